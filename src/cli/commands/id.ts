// `p2pcat id`: create (on first use) and show the local identity.
import type { CommandModule } from 'yargs';

export interface IdArgs { name?: string | undefined; paths?: boolean | undefined }

export const idCommand: CommandModule<object, IdArgs> = {
  command: 'id',
  describe: 'create the identity on first use and print it as one NDJSON record',
  builder: (y) =>
    y
      .option('name', { type: 'string', describe: 'set and save the username', requiresArg: true })
      .option('paths', { type: 'boolean', describe: 'also print where p2pcat keeps its files' })
      .example('$0 id', 'show (creating if needed) your public key, uuid and fingerprint')
      .example('$0 id --name alice', 'save "alice" as your username')
      .example("$0 id | jq -r .fingerprint", 'print only the fingerprint, to compare out of band'),
  handler: async (argv) => (await import('../run/id.js')).run(argv),
};
