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

/** Rendezvous room token: first 16 bytes of HMAC-BLAKE2b-512(room key, label || u64be(epoch)) (src/nat/token.ts). */
export const RENDEZVOUS_TOKEN_CONTEXT = 'p2pcat rendezvous token v1';
/** Room tokens rotate every this many seconds; a peer presents this epoch's and the previous one's. */
export const RENDEZVOUS_TOKEN_EPOCH_S = 3600;
/** Punch probes: STUN short-term MESSAGE-INTEGRITY key = HMAC-BLAKE2b-512(room key, label)[0..32]. */
export const PUNCH_PROBE_KEY_CONTEXT = 'p2pcat punch probe v1';
/** SOFTWARE attribute p2pcat puts in the STUN messages it sends (RFC 8489 section 14.14). */
export const STUN_SOFTWARE = 'p2pcat/0.1';

// ---- Discovery (src/discovery, docs/discovery.md) ----
/** LAN tag key = HMAC-BLAKE2b-512(room key, label)[0..32]; tag = HMAC-BLAKE2b-512(tag key, u64be(epoch) || nonce)[0..16]. */
export const LAN_TAG_CONTEXT = 'p2pcat lan tag v1';
/** LAN beacon key = HMAC-BLAKE2b-512(room key, label)[0..32]: ChaCha20-Poly1305 over the identity key, the beacon's fields as AAD. */
export const LAN_BEACON_KEY_CONTEXT = 'p2pcat lan beacon key v1';
/** First line of a LAN beacon's AAD (src/discovery/beacon.ts). */
export const LAN_BEACON_AAD_CONTEXT = 'p2pcat lan beacon v1';
/** LAN tags rotate every this many seconds. */
export const LAN_EPOCH_S = 600;
/** DHT key = HMAC-BLAKE2b-512(room key, label)[0..32]; info-hash = HMAC-BLAKE2b-512(DHT key, u64be(epoch))[0..20]. */
export const DHT_INFOHASH_CONTEXT = 'p2pcat dht infohash v1';
/** DHT info-hashes rotate every this many seconds. */
export const DHT_EPOCH_S = 3600;
/** DNS-SD service type p2pcat peers announce over mDNS (RFC 6763 section 7). */
export const MDNS_SERVICE_TYPE = '_p2pcat._tcp.local';
/** UDP broadcast beacons: the port, and the 4-byte magics of a beacon and of a probe. */
export const LAN_BEACON_PORT = 45054;
export const LAN_BEACON_MAGIC = 'P2B1';
export const LAN_PROBE_MAGIC = 'P2Q1';

// ---- the mesh (src/mesh, docs/mesh.md) ----
/** Presence statement: Ed25519 over this label || 0x00 || JSON([room, key, name, port, ts, state]). */
export const PRESENCE_SIGNATURE_CONTEXT = 'p2pcat presence v1';
/** Delivery receipt: Ed25519 over this label || 0x00 || JSON([room, id]). */
export const ACK_SIGNATURE_CONTEXT = 'p2pcat ack v1';
/** Direct message, inner record: Ed25519 over this label || 0x00 || JSON([room, uuid, username, timestamp, message, msg_id, to]). */
export const DM_SIGNATURE_CONTEXT = 'p2pcat dm v1';
/** Direct message seal: HKDF-SHA256 info (key and nonce for ChaCha20-Poly1305) and AEAD associated-data prefix. */
export const DM_SEAL_CONTEXT = 'p2pcat dm seal v1';
/** Join links: p2pcat://HOST:PORT?room=…&secret=…&key=… (src/mesh/link.ts). */
export const JOIN_LINK_SCHEME = 'p2pcat:';
