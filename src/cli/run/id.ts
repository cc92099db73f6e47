// `p2pcat id` implementation.
import { configDir, dataDir, identityPath, logDir } from '../../config/paths.js';
import { identityRecord, loadOrCreateIdentity, saveUsername } from '../../crypto/identity.js';
import { writeStdoutLine } from '../io.js';
import type { IdArgs } from '../commands/id.js';

export async function run(argv: IdArgs): Promise<void> {
  const file = identityPath();
  let { identity, created } = loadOrCreateIdentity(file);
  if (created) process.stderr.write(`p2pcat: created a new identity in ${file}\n`);
  if (argv.name !== undefined) identity = saveUsername(file, identity, argv.name);
  const rec = identityRecord(identity, file);
  if (argv.paths) Object.assign(rec, { config_dir: configDir(), data_dir: dataDir(), log_dir: logDir() });
  await writeStdoutLine(JSON.stringify(rec));
}
