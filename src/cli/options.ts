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
