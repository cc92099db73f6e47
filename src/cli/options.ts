// Options shared by several commands, defined once so that help, man page
// drift tests and completions all see the same definitions.
import type { Options } from 'yargs';

export const identityOptions = {
  name: { type: 'string', describe: 'username for this session (default: the identity\'s, then $P2PCAT_NAME, then $USER)' },
} satisfies Record<string, Options>;

export const roomOptions = {
  room: { type: 'string', describe: 'room name (default: $P2PCAT_ROOM, then "lobby")', requiresArg: true },
  secret: { type: 'string', describe: 'room secret for a private room (visible in ps(1): prefer --secret-file or $P2PCAT_SECRET)', requiresArg: true },
  'secret-file': { type: 'string', describe: 'read the room secret from FILE (e.g. /dev/fd/3); one trailing newline is stripped', requiresArg: true, conflicts: 'secret' },
} satisfies Record<string, Options>;

export const chatIoOptions = {
  json: { type: 'boolean', describe: 'NDJSON on stdin/stdout even on a terminal (no chat view)' },
  strict: { type: 'boolean', describe: 'refuse stdin lines that are not JSON objects instead of sending them as text' },
  'handshake-timeout': { type: 'number', describe: 'seconds a Noise handshake may take', default: 10, requiresArg: true },
} satisfies Record<string, Options>;

export interface CommonArgs {
  name?: string | undefined;
  room?: string | undefined;
  secret?: string | undefined;
  'secret-file'?: string | undefined;
  json?: boolean | undefined;
  strict?: boolean | undefined;
  'handshake-timeout'?: number | undefined;
}

/** netcat's other half: raw encrypted byte streams (listen/connect --raw). */
export const rawOptions = {
  raw: { type: 'boolean', describe: 'a plain encrypted byte stream both ways instead of chat (no NDJSON, nothing logged); conflicts with --json and --strict', conflicts: ['json', 'strict'] },
  'keep-open': { alias: 'k', type: 'boolean', describe: 'listen --raw: after a peer leaves, serve the next (queued) one instead of exiting', implies: 'raw' },
  exec: { alias: 'e', type: 'string', describe: 'run CMD (via /bin/sh -c) as the chat: its stdin gets the NDJSON records, its stdout lines are requests (a bot); with --raw, one per session, its stdin/stdout are the stream', requiresArg: true },
  'max-conns': { type: 'number', describe: 'listen --raw --exec: sessions served at once (default 256)', implies: 'exec', requiresArg: true },
  'send-only': { type: 'boolean', describe: 'with --raw: only send; bytes from the peer are discarded', implies: 'raw', conflicts: 'recv-only' },
  'recv-only': { type: 'boolean', describe: 'with --raw: only receive; stdin is not read and our side ends at once', implies: 'raw' },
  'idle-timeout': { type: 'number', describe: 'with --raw: give up (exit 75) after SECONDS with no bytes in either direction', implies: 'raw', requiresArg: true },
  verbose: { alias: 'v', type: 'boolean', describe: 'say on stderr who connected (raw mode)' },
} satisfies Record<string, Options>;

/** File transfer in chat mode (docs/protocol.md, "File transfer"), for listen, connect and punch. */
export const fileOptions = {
  'accept-files': {
    type: 'string',
    describe: 'files offered by peers: yes (store them in --download-dir), no (refuse), ask (the chat view asks; the default there); --accept-files alone means yes; default with --json: no',
    requiresArg: false,
  },
  'download-dir': { type: 'string', describe: 'where received files land, under a safe name of their own (default: the current directory)', requiresArg: true },
  'max-file-size': { type: 'string', describe: 'refuse offers of files larger than SIZE (bytes, or with K, M, G: 25M; default 1G)', requiresArg: true },
} satisfies Record<string, Options>;

export interface FileArgs {
  'accept-files'?: string | undefined;
  'download-dir'?: string | undefined;
  'max-file-size'?: string | undefined;
  exec?: string | undefined;
}

/** The encrypted log (issue 3), for listen and connect. */
export const logOptions = {
  log: { type: 'string', describe: 'append every message sent and received to the log at PATH instead of the room\'s default; --no-log: keep no log', requiresArg: false },
} satisfies Record<string, Options>;

/** The mesh (docs/mesh.md), for listen and connect. */
export const meshOptions = {
  allow: { type: 'string', describe: 'admit only the public keys listed in FILE (one hex key per line, # comments); everyone else is refused right after HELLO', requiresArg: true },
  'dial-policy': {
    type: 'string',
    describe: 'which addresses learned from peers may be dialled: same-scope (default: the family and scope of the peer that told us), any, none, or CIDR,CIDR...',
    requiresArg: true,
  },
  neighbours: { type: 'number', describe: 'outgoing neighbours to keep by dialling members learned from peers (default 4; 0: dial only the targets given)', requiresArg: true },
  'push-degree': { type: 'number', describe: 'neighbours each new message is pushed to in full; the rest get its id lazily (default 5; 0: flood to every neighbour)', requiresArg: true },
  'peer-timeout': { type: 'number', describe: 'seconds a neighbour may stay silent before it is dropped (keep-alives every third of it, at most 5 s; default 20)', requiresArg: true },
  'peer-rate': { type: 'number', describe: 'messages per second one neighbour may send before it is read more slowly (default 1000; 0: no limit)', requiresArg: true },
  stats: { type: 'boolean', describe: 'at exit, print one STATS record (messages and bytes sent, duplicates, drops by reason) on stderr' },
} satisfies Record<string, Options>;

export interface MeshArgs {
  log?: string | false | undefined;
  allow?: string | undefined;
  'dial-policy'?: string | undefined;
  neighbours?: number | undefined;
  'push-degree'?: number | undefined;
  'peer-timeout'?: number | undefined;
  'peer-rate'?: number | undefined;
  stats?: boolean | undefined;
  /** listen --peer HOST:PORT (repeatable). */
  peer?: string | string[] | undefined;
  /** connect --listen [PORT]. */
  listen?: string | undefined;
  bind?: string | undefined;
  /** connect --wait-ack[=N]. */
  'wait-ack'?: string | undefined;
  timeout?: number | undefined;
}
