// Every command p2pcat has, in the order `--help` lists them.
import { idCommand } from './id.js';

export const commands = [idCommand];
