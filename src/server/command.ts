/**
 * The `proxyfix` command line as a function: `proxyfix serve [options] MODULE:EXPORT`, gunicorn's
 * command line for gateway apps, and `proxyfix serve --inspect` to see what requests look like
 * after a proxy chain. `cli.ts` runs it as the program; tests and tools can call it directly.
 *
 * A deployment is often configured by environment variables, so every option can also come from
 * one (`--x-for` from `PROXYFIX_X_FOR`); an option on the command line wins. Whatever is wrong with
 * the command (an option, the module, its export) is reported on one line, with exit status 2,
 * before anything listens.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describe, isConfigError } from '../options.js';
import { INTERFACES, servedApp } from '../adapters/interface.js';
import { recognize } from '../app-kind.js';
import type { GatewayApp, GatewayHolder } from '../gateway.js';
import { proxyFix, type ProxyFixOptions } from '../middleware/proxy-fix/index.js';
import { probe } from '../middleware/probe.js';
import { inspectApp } from './inspect.js';
import { serve, type RunningServer, type ServeOptions } from './serve.js';
import type { ProxyProtocolOptions } from './settings.js';

/** A problem with the command: one line to print, and the exit status (2: the command is wrong). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

/** Where the command writes and what it reads besides its arguments. */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  /** Module paths are relative to it. */
  cwd: string;
  /** --help, --version and the access log. */
  stdout: { write(chunk: string): unknown };
  /** The server's log. */
  stderr: { write(chunk: string): unknown };
}

type Kind = 'count' | 'integer' | 'seconds' | 'list' | 'binds' | 'boolean' | 'interface' | 'text';

interface OptionSpec {
  flag: string;
  short?: string;
  kind: Kind;
  /** Where the value goes: a proxyFix option, a serve option, or the command itself. */
  target: { proxyFix: keyof ProxyFixOptions } | { serve: keyof ServeOptions } | { command: 'inspect' | 'noAccessLog' | 'probeToken' | 'probePath' | 'inspectRedact' | 'inspectReveal' }
    | { proxyProtocol: keyof ProxyProtocolOptions | 'on' };
  value?: string;
  help: string;
}

const SPECS: readonly OptionSpec[] = [
  { flag: 'bind', short: 'b', kind: 'binds', target: { serve: 'bind' }, value: 'ADDR',
    help: 'listen on host:port, [v6]:port or unix:/path, as given; repeat for several (the variable: a comma- or space-separated list; default 127.0.0.1:8000)' },
  { flag: 'interface', kind: 'interface', target: { serve: 'interface' }, value: 'KIND',
    help: 'what MODULE:EXPORT is: auto, gateway, node (a request listener) or fetch (default auto)' },
  { flag: 'workers', short: 'w', kind: 'integer', target: { serve: 'workers' }, value: 'N',
    help: 'worker processes; 0 serves in this process (default 0)' },
  { flag: 'x-for', kind: 'count', target: { proxyFix: 'xFor' }, value: 'N',
    help: 'proxies that append to X-Forwarded-For; inf walks while --trusted' },
  { flag: 'x-proto', kind: 'count', target: { proxyFix: 'xProto' }, value: 'N', help: 'proxies that append to X-Forwarded-Proto; inf only with --symmetric' },
  { flag: 'x-host', kind: 'count', target: { proxyFix: 'xHost' }, value: 'N', help: 'proxies that append to X-Forwarded-Host; inf only with --symmetric' },
  { flag: 'x-port', kind: 'count', target: { proxyFix: 'xPort' }, value: 'N', help: 'proxies that append to X-Forwarded-Port; inf only with --symmetric' },
  { flag: 'x-prefix', kind: 'count', target: { proxyFix: 'xPrefix' }, value: 'N', help: 'proxies that append to X-Forwarded-Prefix; inf only with --symmetric' },
  { flag: 'forwarded', kind: 'count', target: { proxyFix: 'forwarded' }, value: 'N', help: 'proxies that append to Forwarded (RFC 7239); inf walks while --trusted' },
  { flag: 'symmetric', kind: 'boolean', target: { proxyFix: 'symmetric' },
    help: 'apply nothing when the X-Forwarded-* headers carry different numbers of values' },
  { flag: 'trusted', kind: 'list', target: { proxyFix: 'trusted' }, value: 'LIST',
    help: 'comma-separated proxy addresses, CIDRs or ranges (loopback, private, ...)' },
  { flag: 'trust-unix-socket', kind: 'boolean', target: { proxyFix: 'trustUnixSocket' },
    help: 'trust a peer on a Unix socket (with --trusted)' },
  { flag: 'inspect', kind: 'boolean', target: { command: 'inspect' }, help: 'serve the inspection app instead of MODULE:EXPORT' },
  { flag: 'inspect-redact', kind: 'list', target: { command: 'inspectRedact' }, value: 'NAMES',
    help: 'with --inspect: more comma-separated header and parameter names to show as (redacted)' },
  { flag: 'inspect-reveal', kind: 'list', target: { command: 'inspectReveal' }, value: 'NAMES',
    help: 'with --inspect: names a redaction rule would hide that are shown as sent' },
  { flag: 'probe-token', kind: 'text', target: { command: 'probeToken' }, value: 'TOKEN',
    help: 'answer `proxyfix check` at the probe path to requests carrying this token (16+ characters)' },
  { flag: 'probe-path', kind: 'text', target: { command: 'probePath' }, value: 'PATH',
    help: 'where the probe answers, with --probe-token (default /.well-known/proxyfix)' },
  { flag: 'proxy-protocol', kind: 'boolean', target: { proxyProtocol: 'on' },
    help: 'read a PROXY protocol header (v1 or v2) at the start of each connection, as layer-4 load balancers send it' },
  { flag: 'proxy-protocol-trusted', kind: 'list', target: { proxyProtocol: 'trusted' }, value: 'LIST',
    help: 'the load balancers that send it (required with --proxy-protocol): addresses, CIDRs or ranges; others may not' },
  { flag: 'proxy-protocol-trust-unix-socket', kind: 'boolean', target: { proxyProtocol: 'trustUnixSocket' },
    help: 'a peer on a Unix socket may send it too' },
  { flag: 'proxy-protocol-timeout', kind: 'seconds', target: { proxyProtocol: 'timeout' }, value: 'S',
    help: 'time a connection has to send the whole header (default 30)' },
  { flag: 'no-access-log', kind: 'boolean', target: { command: 'noAccessLog' }, help: 'do not write the access log to stdout' },
  { flag: 'keep-alive-timeout', kind: 'seconds', target: { serve: 'keepAliveTimeout' }, value: 'S', help: 'idle keep-alive time; 0: no keep-alive (default 5)' },
  { flag: 'headers-timeout', kind: 'seconds', target: { serve: 'headersTimeout' }, value: 'S', help: 'time to send the headers (default 60)' },
  { flag: 'request-timeout', kind: 'seconds', target: { serve: 'requestTimeout' }, value: 'S', help: 'time to send the request; 0: none (default 300)' },
  { flag: 'response-timeout', kind: 'seconds', target: { serve: 'responseTimeout' }, value: 'S', help: 'time the app has to start its answer, else 503; 0: none (default 60)' },
  { flag: 'drain-timeout', kind: 'seconds', target: { serve: 'drainTimeout' }, value: 'S', help: 'time in-flight requests get at shutdown (default 30)' },
  { flag: 'max-header-size', kind: 'integer', target: { serve: 'maxHeaderSize' }, value: 'BYTES', help: 'largest request head (default 16384)' },
  { flag: 'max-header-lines', kind: 'integer', target: { serve: 'maxHeaderLines' }, value: 'N', help: 'most header lines in a request (default 200)' },
  { flag: 'max-connections', kind: 'integer', target: { serve: 'maxConnections' }, value: 'N', help: 'connections at once per address and worker' },
];

function envName(flag: string): string {
  return `PROXYFIX_${flag.toUpperCase().replace(/-/g, '_')}`;
}

const USAGE = 'usage: proxyfix serve [options] MODULE[:EXPORT]';

function help(): string {
  const lines = SPECS.map((spec) => {
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${spec.flag}${spec.value ? ` ${spec.value}` : ''}`;
    // A flag wider than its column has its description on the next line, under the others'.
    const head = left.length < 30 ? `  ${left.padEnd(30)} ` : `  ${left}\n  ${''.padEnd(30)} `;
    return `${head}${spec.help}\n  ${''.padEnd(30)} env ${envName(spec.flag)}`;
  });
  return `${USAGE}
       proxyfix serve --inspect [options]
       proxyfix check URL --token TOKEN [options]   (see proxyfix check --help)

Serve an app over HTTP/1.1. MODULE is a file (.js, .mjs, .cjs may be left off); EXPORT is
an export name (default: default), a dotted path (app.gatewayApp) or a factory call (createApp()).
It may be a gateway app or an object with a gatewayApp property, a node:http request listener (an
Express or Connect app, Koa's app.callback()), a Koa app, a Fastify instance, a fetch handler or an
object with a fetch method (a Hono app); --interface names the kind when the guess would be wrong.
With any of --x-*, --forwarded or --trusted, the app is wrapped in proxyFix with those options;
without them it is served as it is.
--inspect serves the inspection app behind proxyFix (its defaults unless options are given).
--probe-token mounts the probe that \`proxyfix check\` talks to (see proxyfix check --help).
--proxy-protocol: behind a layer-4 load balancer (AWS NLB, HAProxy send-proxy-v2, nginx stream
proxy_protocol on), the client address comes from its PROXY protocol header; a connection from a
--proxy-protocol-trusted peer without one, or from any other peer with one, is closed.
Timeouts are in seconds. SIGTERM or SIGINT: finish in-flight requests, then exit 0.

Options (each also read from the environment variable shown; the command line wins):
${lines.join('\n')}
  -h, --help                     show this help
      --version                  show the version
`;
}

/** The package's version, from the first package.json above this file (in src/ or in dist/src/). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    /* c8 ignore next -- this file always lies inside the package */
    if (dirname(dir) === dir) return 'unknown';
    dir = dirname(dir);
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Turn one option's text into its value; `source` names it in the error (`--x-for` or `PROXYFIX_X_FOR`). */
function convert(spec: OptionSpec, text: string, source: string): unknown {
  switch (spec.kind) {
    case 'count':
      // proxyFix itself refuses Infinity without a trust list, with the reason.
      if (/^inf(inity)?$/i.test(text)) return Infinity;
      if (!/^\d+$/.test(text)) throw new CommandError(`${source} must be a whole number or inf, got ${JSON.stringify(text)}`);
      return Number(text);
    case 'integer':
      if (!/^\d+$/.test(text)) throw new CommandError(`${source} must be a whole number, got ${JSON.stringify(text)}`);
      return Number(text);
    case 'seconds': {
      if (!/^\d+(\.\d+)?$/.test(text)) throw new CommandError(`${source} must be a number of seconds, got ${JSON.stringify(text)}`);
      // Milliseconds; a positive time never rounds to 0, which means "none" or "off".
      const ms = Math.round(Number(text) * 1000);
      return ms === 0 && Number(text) > 0 ? 1 : ms;
    }
    case 'list':
      return text.split(',').map((item) => item.trim()).filter((item) => item !== '');
    case 'binds':
      // Only the variable's text comes here: a list, split on commas and whitespace.
      return text.split(/[\s,]+/).filter((item) => item !== '');
    case 'interface':
      if (!(INTERFACES as readonly string[]).includes(text)) {
        throw new CommandError(`${source} must be one of ${INTERFACES.join(', ')}, got ${JSON.stringify(text)}`);
      }
      return text;
    case 'text':
      return text;
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new CommandError(`${source} must be 1 or 0 (true or false), got ${JSON.stringify(text)}`);
  }
}

interface Command {
  app: string | undefined;
  inspect: boolean;
  noAccessLog: boolean;
  probeToken?: string;
  probePath?: string;
  inspectRedact?: string[];
  inspectReveal?: string[];
  proxyFixOptions: Record<string, unknown>;
  serveOptions: Record<string, unknown>;
  /** --proxy-protocol (`on`) and the options of serve's `proxyProtocol`. */
  proxyProtocol: Record<string, unknown>;
}

/** Read the command line and the environment; `undefined` when --help or --version has been answered. */
function readCommand(argv: string[], io: CommandIo): Command | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(SPECS.map((spec) => [spec.flag, {
          type: spec.kind === 'boolean' ? 'boolean' as const : 'string' as const,
          multiple: spec.kind === 'binds',
          ...(spec.short ? { short: spec.short } : {}),
        }])),
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new CommandError(`${(error as Error).message} (see proxyfix --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(help());
    return undefined;
  }
  if (values.version) {
    io.stdout.write(`proxyfix ${version()}\n`);
    return undefined;
  }
  const [command, ...rest] = positionals;
  if (command !== 'serve') {
    throw new CommandError(command === undefined ? `no command given; ${USAGE}` : `unknown command ${JSON.stringify(command)}; ${USAGE}`);
  }

  const result: Command = { app: undefined, inspect: false, noAccessLog: false, proxyFixOptions: {}, serveOptions: {}, proxyProtocol: {} };
  for (const spec of SPECS) {
    const given = (values as Record<string, string | string[] | boolean | undefined>)[spec.flag];
    const fromEnv = io.env[envName(spec.flag)];
    let value: unknown;
    if (given !== undefined) {
      value = typeof given === 'boolean' ? given
        // A repeated flag (-b) names one address each time, as it is: a socket path may hold a space or a comma.
        : Array.isArray(given) ? given
        : convert(spec, given, `--${spec.flag}`);
    } else if (fromEnv !== undefined && (fromEnv !== '' || spec.kind === 'list')) {
      // An empty variable is unset, except for a list, where it is the empty list (`--trusted ""`).
      value = convert(spec, fromEnv, envName(spec.flag));
    } else {
      continue;
    }
    const target = spec.target;
    if ('proxyFix' in target) result.proxyFixOptions[target.proxyFix] = value;
    else if ('serve' in target) result.serveOptions[target.serve] = value;
    else if ('proxyProtocol' in target) result.proxyProtocol[target.proxyProtocol] = value;
    else (result as unknown as Record<string, unknown>)[target.command] = value;
  }

  const { on, ...proxyProtocol } = result.proxyProtocol;
  if (on === true) {
    if (proxyProtocol.trusted === undefined) {
      throw new CommandError('--proxy-protocol needs --proxy-protocol-trusted: the load balancers that may send the header');
    }
    result.serveOptions.proxyProtocol = proxyProtocol;
  } else if (Object.keys(proxyProtocol).length > 0) {
    throw new CommandError('--proxy-protocol-trusted, --proxy-protocol-trust-unix-socket and --proxy-protocol-timeout apply to --proxy-protocol');
  }

  if (rest.length > 1) throw new CommandError(`serve takes one MODULE:EXPORT, got ${rest.length}: ${rest.join(' ')}`);
  result.app = rest[0];
  if (result.inspect === (result.app !== undefined)) {
    throw new CommandError(result.inspect
      ? 'give either MODULE:EXPORT or --inspect, not both'
      : `serve needs MODULE:EXPORT, or --inspect for the inspection app; ${USAGE}`);
  }
  return result;
}

const EXPORT_EXPRESSION = /^([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(\(\))?$/;

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

/** Load `MODULE:EXPORT` the way gunicorn loads `module:app` and `module:create_app()`. */
async function loadApp(spec: string, cwd: string): Promise<unknown> {
  // The export part never holds a slash, so `C:\app.js` is a module without one.
  const split = /^(.*):([^:/\\]*)$/.exec(spec);
  const modulePart = split === null ? spec : split[1]!;
  const expression = split === null ? 'default' : split[2]!;
  const match = EXPORT_EXPRESSION.exec(expression);
  if (match === null) {
    throw new CommandError(`${JSON.stringify(expression)} in ${JSON.stringify(spec)} is not an export name, a dotted path or a call like createApp()`);
  }
  const base = resolve(cwd, modulePart);
  const file = [base, `${base}.js`, `${base}.mjs`, `${base}.cjs`].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
  if (file === undefined) {
    throw new CommandError(`cannot find module ${JSON.stringify(modulePart)}: no file ${base} (nor with .js, .mjs or .cjs)`);
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(pathToFileURL(file).href) as Record<string, unknown>;
  } catch (error) {
    throw new CommandError(`cannot load module ${JSON.stringify(modulePart)}: ${firstLine(error)}`);
  }

  const path = match[1]!;
  let parent: unknown;
  let value: unknown = namespace;
  for (const name of path.split('.')) {
    if (typeof value !== 'object' && typeof value !== 'function' || value === null || !(name in value)) {
      const exported = Object.keys(namespace).join(', ') || 'nothing';
      throw new CommandError(`module ${JSON.stringify(modulePart)} has no export ${JSON.stringify(path)} (it exports: ${exported})`);
    }
    parent = value;
    value = (value as Record<string, unknown>)[name];
  }
  if (match[2] !== undefined) {
    if (typeof value !== 'function') {
      throw new CommandError(`${path} in ${JSON.stringify(modulePart)} is ${describe(value)}, not a function, so ${expression} cannot call it`);
    }
    try {
      value = await (value as () => unknown).call(parent);
    } catch (error) {
      throw new CommandError(`${expression} in ${JSON.stringify(modulePart)} threw: ${firstLine(error)}`);
    }
  }
  if (recognize(value).kind === 'unknown') {
    throw new CommandError(`${expression} in ${JSON.stringify(modulePart)} gave ${describe(value)}, not an app: ` +
      'a gateway app, a node:http request listener, a fetch handler, or an object with gatewayApp or fetch');
  }
  return value;
}

/**
 * Run `proxyfix` with `argv` (without the program name): resolves with the running server, or
 * `undefined` when --help or --version was answered; rejects with a `CommandError`.
 *
 * @example
 * const server = await runCommand(['serve', '--inspect', '-b', '127.0.0.1:0'], { env: {}, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr });
 */
export async function runCommand(argv: string[], io: CommandIo): Promise<RunningServer | undefined> {
  try {
    const command = readCommand(argv, io);
    if (command === undefined) return undefined;
    const { interface: kind, ...serveOptions } = command.serveOptions as ServeOptions;
    if (!command.inspect && (command.inspectRedact !== undefined || command.inspectReveal !== undefined)) {
      throw new CommandError('--inspect-redact and --inspect-reveal apply to --inspect, the inspection app');
    }
    const loaded = command.inspect ? inspectApp({ redact: command.inspectRedact, reveal: command.inspectReveal })
      : await servedApp(await loadApp(command.app!, io.cwd), kind);
    let app: GatewayApp | GatewayHolder = loaded;
    // A holder's gatewayApp is still read on every request, under the middlewares.
    const inner: GatewayApp = typeof loaded === 'function' ? loaded : (env) => loaded.gatewayApp(env);
    const fixing = command.inspect || Object.keys(command.proxyFixOptions).length > 0;
    if (command.probePath !== undefined && command.probeToken === undefined) {
      throw new CommandError('--probe-path needs --probe-token: the probe answers only requests that carry the token');
    }
    // The probe sits inside proxyFix, where it sees the request before and after fixing, and the
    // trace; it reports the options only when a proxyFix runs.
    const probed = command.probeToken === undefined ? inner : probe(inner, {
      token: command.probeToken, path: command.probePath, options: fixing ? command.proxyFixOptions as ProxyFixOptions : undefined,
    });
    if (fixing) {
      const traced = command.inspect || command.probeToken !== undefined;
      app = proxyFix(probed, traced ? { ...command.proxyFixOptions, trace: true } : command.proxyFixOptions);
    } else if (command.probeToken !== undefined) {
      app = probed;
    }
    return await serve(app, { ...serveOptions, accessLog: command.noAccessLog ? false : io.stdout, log: io.stderr });
  } catch (error) {
    if (error instanceof CommandError) throw error;
    // Bad options are the command's fault (2); an address in use or a failing worker is not (1).
    throw new CommandError(firstLine(error), isConfigError(error) ? 2 : 1);
  }
}
