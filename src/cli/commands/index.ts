// Every command p2pcat has, in the order `--help` lists them.
import { listenCommand } from './listen.js';
import { connectCommand } from './connect.js';
import { idCommand } from './id.js';
import { logCommand } from './log.js';

export const commands = [listenCommand, connectCommand, logCommand, idCommand];
