#!/usr/bin/env node
/**
 * The `proxyfix` program: runs the command line (command.ts; check-command.ts for `proxyfix check`)
 * and, once serving, turns SIGTERM and SIGINT into a graceful shutdown, which is what process
 * managers and Ctrl-C send.
 */
import { runCheckCommand } from './check-command.js';
import { runCommand, type CommandError } from './command.js';
import type { RunningServer } from './serve.js';

/** SIGTERM/SIGINT: finish what is in flight and exit 0; a second signal exits at once. */
function exitOnSignals(server: RunningServer): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`[proxyfix ${process.pid}] ${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`[proxyfix ${process.pid}] ${signal}: finishing in-flight requests, then exiting\n`);
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const io = { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr };
const failed = (error: CommandError) => {
  process.stderr.write(`proxyfix: ${error.message}\n`);
  process.exitCode = error.exitCode;
};
const [command, ...rest] = process.argv.slice(2);
if (command === 'check') {
  runCheckCommand(rest, io).then((status) => { process.exitCode = status; }, failed);
} else {
  runCommand(process.argv.slice(2), io).then((server) => {
    if (server !== undefined) exitOnSignals(server);
  }, failed);
}
