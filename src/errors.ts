// One error type for everything p2pcat reports to a user: a stable `code`
// (documented in man/p2pcat.1, ERRORS), a free-form message, and the exit
// status a command should end with (sysexits(3) where one fits).
//
// Programmer errors (TypeError, RangeError) are never wrapped in this class.

export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64, // EX_USAGE
  DATAERR: 65, // EX_DATAERR
  NOINPUT: 66, // EX_NOINPUT
  UNAVAILABLE: 69, // EX_UNAVAILABLE
  SOFTWARE: 70, // EX_SOFTWARE
  CANTCREAT: 73, // EX_CANTCREAT
  IOERR: 74, // EX_IOERR
  TEMPFAIL: 75, // EX_TEMPFAIL
  PROTOCOL: 76, // EX_PROTOCOL
  NOPERM: 77, // EX_NOPERM
  CONFIG: 78, // EX_CONFIG
} as const;

/** Every code p2pcat can print, with its exit status and a one-line meaning. */
export const ERROR_CODES = {
  P2PCAT_ERR_USAGE: { exit: EXIT.USAGE, what: 'bad command line: unknown or conflicting options, missing argument' },
  P2PCAT_ERR_BAD_INPUT: { exit: EXIT.DATAERR, what: 'a stdin line could not be used (bad JSON, wrong field type, too long, or plain text with --strict)' },
  P2PCAT_ERR_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, what: 'no peer could be reached (connection refused, host unknown, timed out)' },
  P2PCAT_ERR_TIMEOUT: { exit: EXIT.TEMPFAIL, what: 'a wait ran out of time (handshake, ack, idle)' },
  P2PCAT_ERR_AUTH: { exit: EXIT.NOPERM, what: 'the Noise handshake failed: wrong room secret, or the peer is not who it claims' },
  P2PCAT_ERR_PROTOCOL: { exit: EXIT.PROTOCOL, what: 'a peer sent something the protocol does not allow (garbage, bad frame, bad tag)' },
  P2PCAT_ERR_FRAME_TOO_LARGE: { exit: EXIT.PROTOCOL, what: 'a peer announced a frame longer than the limit' },
  P2PCAT_ERR_BAD_MESSAGE: { exit: EXIT.PROTOCOL, what: 'a message failed its check (signature, msg_id, room) and was dropped' },
  P2PCAT_ERR_VERSION: { exit: EXIT.PROTOCOL, what: 'the peer speaks a protocol version this p2pcat does not' },
  P2PCAT_ERR_KEY_PERMS: { exit: EXIT.NOPERM, what: 'the identity key file is readable by group or others (chmod 600 it)' },
  P2PCAT_ERR_IDENTITY: { exit: EXIT.CONFIG, what: 'the identity file is missing, unreadable or malformed' },
  P2PCAT_ERR_SECRET: { exit: EXIT.USAGE, what: 'the room secret could not be read (file missing, empty)' },
  P2PCAT_ERR_CONFIG: { exit: EXIT.CONFIG, what: 'the configuration file could not be read or has a bad line (unknown key, bad value)' },
  P2PCAT_ERR_LIMIT: { exit: EXIT.TEMPFAIL, what: 'a resource limit was reached (connections, pending handshakes, queue)' },
  P2PCAT_ERR_IO: { exit: EXIT.IOERR, what: 'reading or writing a local file or stream failed' },
  P2PCAT_ERR_LOG_KEY: { exit: EXIT.NOPERM, what: 'the log cannot be opened with this identity (wrong key or another user\'s log)' },
  P2PCAT_ERR_LOG_FORMAT: { exit: EXIT.DATAERR, what: 'the file is not a p2pcat log, or has a version this p2pcat does not read' },
  P2PCAT_ERR_LOG_CORRUPT: { exit: EXIT.DATAERR, what: 'a log record failed its check (tag, signature or msg_id)' },
  P2PCAT_ERR_PASSPHRASE: { exit: EXIT.NOPERM, what: 'the passphrase is missing or wrong' },
  P2PCAT_ERR_INTERNAL: { exit: EXIT.SOFTWARE, what: 'a bug in p2pcat; please report it' },
  P2PCAT_ERR_PUNCH_FAILED: { exit: EXIT.UNAVAILABLE, what: 'hole punching found no path to the peer and no relay was offered (the message names both NAT types)' },
  P2PCAT_ERR_DISCOVERY_PACKET: { exit: EXIT.DATAERR, what: 'a discovery packet (mDNS record, LAN beacon, DHT message) was malformed, oversize, stale or forged, and was ignored' },
  P2PCAT_ERR_FILE: { exit: EXIT.DATAERR, what: 'a file transfer failed its check: more or fewer bytes than offered, or a SHA-256 other than offered; nothing was kept under the final name' },
  P2PCAT_ERR_FILE_REFUSED: { exit: EXIT.NOPERM, what: 'the receiver refused a file offer (--accept-files policy, or the person said no)' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class P2pcatError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'P2pcatError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
  }

  /** The one line a command prints on stderr: `p2pcat: CODE: message`. */
  toLine(): string {
    return `p2pcat: ${this.code}: ${this.message}`;
  }

  /** The NDJSON form, for ERROR records. */
  toRecord(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { type: 'ERROR', code: this.code, message: this.message, ...extra };
  }

  static usage(msg: string) { return new P2pcatError('P2PCAT_ERR_USAGE', msg); }
  static badInput(msg: string) { return new P2pcatError('P2PCAT_ERR_BAD_INPUT', msg); }
  static unavailable(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_UNAVAILABLE', msg, { cause }); }
  static timeout(msg: string) { return new P2pcatError('P2PCAT_ERR_TIMEOUT', msg); }
  static auth(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_AUTH', msg, { cause }); }
  static protocol(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_PROTOCOL', msg, { cause }); }
  static frameTooLarge(msg: string) { return new P2pcatError('P2PCAT_ERR_FRAME_TOO_LARGE', msg); }
  static badMessage(msg: string) { return new P2pcatError('P2PCAT_ERR_BAD_MESSAGE', msg); }
  static version(msg: string) { return new P2pcatError('P2PCAT_ERR_VERSION', msg); }
  static keyPerms(msg: string) { return new P2pcatError('P2PCAT_ERR_KEY_PERMS', msg); }
  static identity(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_IDENTITY', msg, { cause }); }
  static secret(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_SECRET', msg, { cause }); }
  static config(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_CONFIG', msg, { cause }); }
  static limit(msg: string) { return new P2pcatError('P2PCAT_ERR_LIMIT', msg); }
  static io(msg: string, cause?: unknown) { return new P2pcatError('P2PCAT_ERR_IO', msg, { cause }); }
  static logKey(msg: string) { return new P2pcatError('P2PCAT_ERR_LOG_KEY', msg); }
  static logFormat(msg: string) { return new P2pcatError('P2PCAT_ERR_LOG_FORMAT', msg); }
  static logCorrupt(msg: string) { return new P2pcatError('P2PCAT_ERR_LOG_CORRUPT', msg); }
  static passphrase(msg: string) { return new P2pcatError('P2PCAT_ERR_PASSPHRASE', msg); }
  static punchFailed(msg: string) { return new P2pcatError('P2PCAT_ERR_PUNCH_FAILED', msg); }
  static discoveryPacket(msg: string) { return new P2pcatError('P2PCAT_ERR_DISCOVERY_PACKET', msg); }
  static file(msg: string) { return new P2pcatError('P2PCAT_ERR_FILE', msg); }
  static fileRefused(msg: string) { return new P2pcatError('P2PCAT_ERR_FILE_REFUSED', msg); }
}

export function isP2pcatError(e: unknown): e is P2pcatError {
  return e instanceof P2pcatError;
}
