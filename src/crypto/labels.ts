// Every protocol name, prologue and key-derivation context p2pcat uses, in one
// place. Changing any of these changes the wire or the files: bump a version.

/** The Noise protocol every p2pcat session speaks (Noise rev 34 naming). */
export const NOISE_PROTOCOL = 'Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b';
/** Noise prologue: binds the handshake to p2pcat and its wire version. */
export const NOISE_PROLOGUE = 'p2pcat/1';
/** Wire protocol version carried in the handshake payload. */
export const WIRE_VERSION = 1;

/** Room PSK: BLAKE2b-256 keyed derivation contexts (see src/crypto/room.ts). */
export const ROOM_PSK_CONTEXT = 'p2pcat room psk v1';
/** Default room when none is named. */
export const DEFAULT_ROOM = 'lobby';

/** Identity binding: Ed25519 signature over this label || Noise static public key. */
export const IDENTITY_BINDING_CONTEXT = 'p2pcat identity binds noise static v1';
/** Identity UUID: first 16 bytes of SHA-256(label || ed25519 public key), as UUIDv8. */
export const IDENTITY_UUID_CONTEXT = 'p2pcat uuid v1';
/** Chat signature: Ed25519 over this label || canonical record bytes. */
export const CHAT_SIGNATURE_CONTEXT = 'p2pcat chat v1';
