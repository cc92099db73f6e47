// `p2pcat config`: where p2pcat keeps its files, and the settings listen and
// connect would use, each with where it came from (flag, env, file, default).
import type { CommandModule } from 'yargs';
import { chatIoOptions, identityOptions, roomOptions, type CommonArgs } from '../options.js';

export type ConfigArgs = CommonArgs;

export const configCommand: CommandModule<object, ConfigArgs> = {
  command: 'config',
  describe: 'print where p2pcat keeps its files and the effective settings, each with its source, as one NDJSON record',
  builder: (y) =>
    y
      .options(roomOptions)
      .options(identityOptions)
      .options(chatIoOptions)
      .example('$0 config', 'paths, and the room, name and secret listen/connect would use')
      .example('$0 config | jq -r .paths.log_dir', 'where the encrypted logs live')
      .example("P2PCAT_ROOM=ops $0 config | jq -c '.settings.room'", 'check which layer wins: {"value":"ops","source":"env",...}'),
  handler: async (argv) => (await import('../run/config.js')).run(argv),
};
