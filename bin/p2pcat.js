#!/usr/bin/env node
// Entry point: kept tiny so `p2pcat --help` pays only for yargs.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2)));
