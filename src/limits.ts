// Every bound p2pcat enforces, in one place, with its unit in its name.
// Documented in man/p2pcat.1 (LIMITS); each is tested by trying to exceed it.

/** Noise transport messages are at most 65535 bytes (Noise rev 34, section 3). */
export const NOISE_MAX_MESSAGE_BYTES = 65535;
/** Poly1305 tag appended to every encrypted frame. */
export const AEAD_TAG_BYTES = 16;
/** Largest plaintext one transport frame carries. */
export const FRAME_MAX_PLAINTEXT_BYTES = NOISE_MAX_MESSAGE_BYTES - AEAD_TAG_BYTES;
/** Length prefix of every frame on the wire (big-endian uint16, as Noise suggests). */
export const FRAME_LENGTH_PREFIX_BYTES = 2;

/** Largest handshake message accepted (ours are under 200 bytes). */
export const HANDSHAKE_MAX_MESSAGE_BYTES = 1024;
/** A handshake that has not completed by then is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Handshakes in progress at once on one listener; more wait in the kernel backlog. */
export const MAX_PENDING_HANDSHAKES = 64;
/** Established sessions one listener keeps at once. */
export const MAX_CONNECTIONS = 256;

/** Longest stdin line accepted (bytes, without the newline). */
export const STDIN_MAX_LINE_BYTES = 60_000;
/** Longest chat message text (UTF-8 bytes). */
export const CHAT_MAX_MESSAGE_BYTES = 48_000;
/** Longest username (UTF-8 bytes). */
export const USERNAME_MAX_BYTES = 64;
/** Longest room name (UTF-8 bytes). */
export const ROOM_MAX_BYTES = 256;
/** Longest room secret read from a file or the environment (bytes). */
export const SECRET_MAX_BYTES = 4096;

/** Stdin is paused while a peer has more than this many bytes queued. */
export const STDIN_PAUSE_BYTES = 1024 * 1024;
/** Bytes queued for one slow peer before it is disconnected. */
export const PEER_SEND_QUEUE_MAX_BYTES = 8 * 1024 * 1024;
/** Message ids remembered for duplicate suppression. */
export const SEEN_IDS_MAX = 100_000;
/** Transport messages sent under one key before a rekey (well below 2^64-1). */
export const REKEY_AFTER_MESSAGES = 2 ** 32;
/** A timestamp further than this in the future is refused. */
export const CLOCK_SKEW_MAX_MS = 24 * 60 * 60 * 1000;

/** A graceful close waits this long for the peer's FIN before resetting. */
export const CLOSE_TIMEOUT_MS = 5_000;
/** How long `connect` waits for the TCP connection. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Raw mode: bytes read from stdin per read (one socket write per read). */
export const RAW_READ_BYTES = 1024 * 1024;
/** Raw mode: bytes waiting for stdout before we stop reading the peer. */
export const RAW_STDOUT_QUEUE_MAX_BYTES = 8 * 1024 * 1024;
