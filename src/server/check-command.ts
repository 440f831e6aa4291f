/**
 * `proxyfix check URL --token T`: the command line of `check` (src/check/), which proves a live
 * proxy chain safe through the probe that `proxyfix serve --probe-token T` mounts.
 *
 * The exit status is the verdict, so a deployment script can stop on it: 0 safe and right, 1
 * spoofable, 2 wrong but not exploitable, 3 the check could not run (the probe unreachable, the
 * token refused, or the command itself wrong: a status of 2 would claim a verdict).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { progressLine, runCheck } from '../check/index.js';
import { isConfigError } from '../options.js';
import { CommandError, type CommandIo } from './command.js';

const USAGE = 'usage: proxyfix check URL --token TOKEN [--direct URL] [--json] [--html FILE]';

/** Exit status of a command that could not run. */
const CANNOT_RUN = 3;

function help(): string {
  return `${USAGE}

Send a planned series of requests (forged forwarding headers among them) to the probe behind URL,
through the proxies, and say what reached the app: whether a client can spoof it, whether the
options are right, which options and which sample config fit. The app must run the probe:
proxyfix serve --probe-token TOKEN [its options] MODULE:EXPORT. A URL ending in / gets the probe
path (.well-known/proxyfix) added.

Options:
  --token TOKEN        the probe's token (env PROXYFIX_PROBE_TOKEN)
  --direct URL         the app's own address, to check that it cannot be reached around the proxies
  --json               the report as JSON instead of text
  --html FILE          also write the report as an HTML page, with the chain drawn
  --timeout S          give up after this many seconds (default 30)
  --max-requests N     send at most this many requests (default 40)
  --ca FILE            CA certificates (PEM) to trust for https:// URLs besides the system's
  -h, --help           show this help

Exit status: 0 safe and right, 1 spoofable, 2 wrong but not exploitable, 3 could not check.
`;
}

function positive(text: string, flag: string, integer: boolean): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0) || (integer && !Number.isInteger(value))) {
    throw new CommandError(`${flag} must be a ${integer ? 'whole number' : 'number of seconds'} above 0, got ${JSON.stringify(text)}`, CANNOT_RUN);
  }
  return value;
}

/**
 * Run `proxyfix check` with `argv` (after `check`): writes the report to `io.stdout`, progress to
 * `io.stderr`, and resolves with the exit status; rejects with a `CommandError` (status 3).
 */
export async function runCheckCommand(argv: string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        token: { type: 'string' },
        direct: { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        timeout: { type: 'string' },
        'max-requests': { type: 'string' },
        ca: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new CommandError(`${(error as Error).message} (see proxyfix check --help)`, CANNOT_RUN);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(help());
    return 0;
  }
  if (positionals.length !== 1) throw new CommandError(`check takes one URL, got ${positionals.length}; ${USAGE}`, CANNOT_RUN);
  const token = values.token ?? io.env.PROXYFIX_PROBE_TOKEN;
  if (token === undefined || token === '') throw new CommandError(`check needs --token (or PROXYFIX_PROBE_TOKEN); ${USAGE}`, CANNOT_RUN);
  let ca: string | undefined;
  if (values.ca !== undefined) {
    try {
      ca = readFileSync(resolve(io.cwd, values.ca), 'utf8');
    } catch (error) {
      throw new CommandError(`--ca: ${(error as Error).message}`, CANNOT_RUN);
    }
  }
  try {
    const run = await runCheck({
      url: positionals[0]!,
      token,
      direct: values.direct,
      timeoutMs: values.timeout === undefined ? undefined : Math.round(positive(values.timeout, '--timeout', false) * 1000),
      maxRequests: values['max-requests'] === undefined ? undefined : positive(values['max-requests'], '--max-requests', true),
      ca,
      onProgress: (progress) => io.stderr.write(`${progressLine(progress)}\n`),
    });
    io.stdout.write(values.json ? run.json : run.text);
    if (values.html !== undefined) writeFileSync(resolve(io.cwd, values.html), run.html);
    return run.exitStatus;
  } catch (error) {
    if (error instanceof CommandError) throw error;
    // A bad URL or option is the command's fault, and a failed write is the machine's: no verdict either way.
    throw new CommandError(isConfigError(error) ? error.message : (error as Error).message.split('\n')[0]!, CANNOT_RUN);
  }
}
