// Every command p2pcat has, in the order `--help` lists them.
import { listenCommand } from './listen.js';
import { connectCommand } from './connect.js';
import { idCommand } from './id.js';
import { logCommand } from './log.js';
import { configCommand } from './config.js';
import { rendezvousCommand } from './rendezvous.js';
import { natCommand } from './nat.js';
import { punchCommand } from './punch.js';
import { discoverCommand } from './discover.js';
import { inviteCommand } from './invite.js';
import { syncCommand } from './sync.js';

export const commands = [listenCommand, connectCommand, syncCommand, logCommand, idCommand, configCommand, rendezvousCommand, discoverCommand, natCommand, inviteCommand, punchCommand];
