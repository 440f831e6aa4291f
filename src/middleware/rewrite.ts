/**
 * rewriteHeaders: copy any request header into any env field — Flask's hand-written
 * `CustomProxyFix` (`X-FHost` into the host) without writing environ code, and without its hole.
 *
 * The hole: a header is something any client can send. Copying `X-FHost` into the host is right
 * for requests that came through the proxy that sets it, and lets every other client choose the
 * host the app puts into password-reset links. So with `trusted`, headers are read only from a
 * socket peer in that list; without it, the middleware warns once that every client can set them.
 *
 * Each value goes through the rule proxyFix applies to the same field — an address must be an
 * address, a host a host, a prefix a clean path — and a value that fails it leaves the field as it
 * was. A header holding a comma list (a proxy appended to what the client sent) is read from the
 * right, like the X-Forwarded-* counts: the last value unless `count` says otherwise.
 */
import type { FieldOutcome, FieldTrace } from '../explain.js';
import { setField, splitHostHeader, originalValue, type FixedField, type GatewayApp, type GatewayEnv } from '../gateway.js';
import { configError, describe } from '../errors.js';
import { parseAddress } from '../net/address.js';
import { parseHost } from '../net/host.js';
import { isBlank, itemFromRight } from '../net/list.js';
import { defaultPort, parsePort } from '../net/port.js';
import { parsePrefix } from '../net/prefix.js';
import { checkSchemes, connectionScheme, parseScheme } from '../net/scheme.js';
import type { TrustInput } from '../net/trust.js';
import { bothForms, checkBoolean, checkOptions, type Middleware } from './compose.js';
import { compilePeerCheck } from './trust-gate.js';

/** The env fields a header can be copied into. */
export type RewriteTarget = FixedField;

/** A map entry: the field, or the field and how many values from the right to count. */
export type RewriteMapEntry = RewriteTarget | { field: RewriteTarget; count?: number };

export interface RewriteHeadersOptions {
  /**
   * Request header name (any case) → env field: `{ 'x-fhost': 'host', 'x-real-ip': 'remoteAddr' }`.
   * `host` also sets `serverName` and `serverPort`; `remoteAddr` also sets `remotePort` (the
   * value's port, or `""`); `serverPort` also rewrites the port in `host`, as proxyFix's `xPort` does.
   * An entry may be `{ field, count }` to count that header differently from `count`.
   */
  map: Readonly<Record<string, RewriteMapEntry>>;
  /**
   * The proxies to trust; headers are read only when the socket peer is one of them. Without it,
   * every client can set every mapped header, and the middleware warns once (code
   * `PROXYFIX_UNTRUSTED_REWRITE`) on its first request.
   * @default undefined
   */
  trusted?: TrustInput;
  /**
   * Trust a peer with no address (a Unix socket). Only with `trusted`.
   * @default false
   */
  trustUnixSocket?: boolean;
  /**
   * Which value of a comma list to take, counted from the right: the number of proxies that append
   * to the header. When there are fewer values, the header is ignored.
   * @default 1
   */
  count?: number;
  /**
   * Schemes a header mapped to `scheme` may set, compared without regard to case.
   * @default ['http', 'https', 'ws', 'wss']
   */
  schemes?: readonly string[];
  /**
   * Store a trace of every mapped header in `env.ext["proxyfix.rewrite.trace"]`.
   * @default false
   */
  trace?: boolean;
}

/**
 * What the trace says about one mapped header: proxyFix's `FieldTrace`, where `field` is the env
 * field the header is mapped to and `option` the map entry (`map["x-fhost"]`). Outcomes are `used`,
 * `absent`, `too-few-values`, `invalid` or `untrusted`.
 */
export type RewriteFieldTrace = Omit<FieldTrace, 'field'> & { field: RewriteTarget };

/** `env.ext[REWRITE_TRACE]` holds the trace when the `trace` option is on. */
export const REWRITE_TRACE = 'proxyfix.rewrite.trace';

export const UNTRUSTED_REWRITE_WARNING = 'PROXYFIX_UNTRUSTED_REWRITE';

/**
 * The order fields are applied in, whatever the order of the map: the scheme before the host (a
 * host without a port takes the scheme's), and the name and port after the host, so that an
 * explicit one wins over what the host implied.
 */
const TARGETS: readonly RewriteTarget[] = ['remoteAddr', 'remotePort', 'scheme', 'host', 'serverName', 'serverPort', 'scriptName'];

const KNOWN_OPTIONS = new Set(['map', 'trusted', 'trustUnixSocket', 'count', 'schemes', 'trace']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface Rule {
  field: RewriteTarget;
  option: string;
  header: string;
  count: number;
}

function checkCount(option: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option,
      `must be a positive integer (which value from the right), got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1) {
    throw configError(RangeError, 'ERR_PROXYFIX_OPTION_RANGE', option,
      `must be a positive integer (which value from the right), got ${describe(value)}`);
  }
  return value;
}

/** The map's entries as rules, in application order; throws for anything ambiguous. */
function compileMap(map: unknown, count: number): Rule[] {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'map',
      `must be an object from header names to env fields, such as { 'x-fhost': 'host' }; got ${describe(map)}`);
  }
  const symbol = Object.getOwnPropertySymbols(map)[0];
  if (symbol !== undefined) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', `map[${String(symbol)}]`, 'is not a header name: header names are strings');
  }
  const byField = new Map<RewriteTarget, Rule>();
  const byHeader = new Map<string, string>();
  for (const [name, entry] of Object.entries(map)) {
    const option = `map[${JSON.stringify(name)}]`;
    if (!TOKEN.test(name)) throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option, 'is not a header name');
    const header = name.toLowerCase();
    const sameHeader = byHeader.get(header);
    if (sameHeader !== undefined) {
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_CONFLICT', option, `names the same header as \`${sameHeader}\`: header names ignore case`);
    }
    byHeader.set(header, option);
    let field: unknown = entry;
    let entryCount = count;
    if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) {
      for (const key of Object.keys(entry)) {
        if (key !== 'field' && key !== 'count') {
          throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', `${option}.${key}`, 'is not a map entry option (field, count)');
        }
      }
      field = (entry as { field?: unknown }).field;
      const own = (entry as { count?: unknown }).count;
      if (own !== undefined) entryCount = checkCount(`${option}.count`, own);
    }
    if (typeof field !== 'string' || !(TARGETS as readonly string[]).includes(field)) {
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option, `must be one of ${TARGETS.join(', ')}; got ${describe(field)}`);
    }
    const target = field as RewriteTarget;
    const earlier = byField.get(target);
    if (earlier !== undefined) {
      // Two sources for one field would make the result depend on which header the client sent.
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_CONFLICT', option, `sets ${target}, which \`${earlier.option}\` sets already`);
    }
    byField.set(target, { field: target, option, header, count: entryCount });
  }
  if (byField.size === 0) {
    throw configError(RangeError, 'ERR_PROXYFIX_OPTION_RANGE', 'map', 'must map at least one header to an env field');
  }
  return TARGETS.flatMap((target) => byField.get(target) ?? []);
}

interface CompiledRewrite {
  rules: readonly Rule[];
  /** `null` when no trust list is configured. */
  peerTrusted: ((env: GatewayEnv) => boolean) | null;
  apply(env: GatewayEnv, tracing: boolean): RewriteFieldTrace[] | undefined;
  keepTrace: boolean;
}

function compileRewrite(options: RewriteHeadersOptions): CompiledRewrite {
  checkOptions(options, KNOWN_OPTIONS, 'rewriteHeaders');
  checkBoolean('trace', options.trace);
  const count = options.count === undefined ? 1 : checkCount('count', options.count);
  const rules = compileMap(options.map, count);
  const schemes = checkSchemes(options.schemes);
  let peerTrusted: ((env: GatewayEnv) => boolean) | null = null;
  if (options.trusted !== undefined) {
    peerTrusted = compilePeerCheck(options.trusted, options.trustUnixSocket);
  } else if (options.trustUnixSocket !== undefined) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_CONFLICT', 'trustUnixSocket', 'has no effect without `trusted`');
  }

  /** Rewrite `env`; with `tracing`, also say why for each rule (without it, nothing is built). */
  function apply(env: GatewayEnv, tracing: boolean): RewriteFieldTrace[] | undefined {
    const trusted = peerTrusted === null ? true : peerTrusted(env);
    const changed: Partial<Record<RewriteTarget, string>> = {};
    const traces: RewriteFieldTrace[] | undefined = tracing ? [] : undefined;
    for (const rule of rules) {
      const trace: RewriteFieldTrace | undefined = traces && {
        field: rule.field, option: rule.option, header: rule.header, count: rule.count,
        depth: null, value: null, used: false, outcome: 'absent', detail: `no ${rule.header} header`,
      };
      if (trace) traces!.push(trace);
      if (!trusted) {
        if (trace) {
          const peer = originalValue(env, 'remoteAddr');
          settle(trace, 'untrusted', peer === ''
            ? 'the peer is a Unix socket, trusted only with trustUnixSocket'
            : `the peer ${peer} is not in the trust list: a client reached the app directly`);
        }
        continue;
      }
      const header = env.headers[rule.header];
      if (isBlank(header)) continue;
      const value = itemFromRight(header!, rule.count);
      if (value === undefined) {
        if (trace) settle(trace, 'too-few-values', `${rule.option} counts ${rule.count} values from the right, but ${rule.header} has fewer`);
        continue;
      }
      const used = decide(rule.field, value, changed, env, schemes);
      if (!trace) continue;
      trace.depth = rule.count;
      trace.value = value;
      if (used) settle(trace, 'used', `${USED[rule.field]} ${rule.field === 'scriptName' ? JSON.stringify(changed.scriptName) : changed[rule.field]}`);
      else settle(trace, 'invalid', `${JSON.stringify(value)} is not a valid ${rule.field} value; left unchanged`);
    }
    for (const field of TARGETS) {
      const value = changed[field];
      if (value !== undefined) setField(env, field, value);
    }
    return traces;
  }

  return { rules, peerTrusted, apply, keepTrace: options.trace === true };
}

/** How the trace names a field that was set. */
const USED: Record<RewriteTarget, string> = {
  remoteAddr: 'client address', remotePort: 'client port', scheme: 'scheme', host: 'host',
  serverName: 'server name', serverPort: 'port', scriptName: 'prefix',
};

/** Validate `value` for `field` and record what it changes in `changed`; false when it does not parse. */
function decide(
  field: RewriteTarget,
  value: string,
  changed: Partial<Record<RewriteTarget, string>>,
  env: GatewayEnv,
  schemes: readonly string[],
): boolean {
  switch (field) {
    case 'remoteAddr': {
      const address = parseAddress(value);
      if (address === undefined) return false;
      changed.remoteAddr = address.address;
      // The peer's port belongs to the peer, not to the client now in remoteAddr.
      changed.remotePort = address.port;
      return true;
    }
    case 'remotePort':
      if (parsePort(value) === undefined) return false;
      changed.remotePort = value;
      return true;
    case 'scheme': {
      const scheme = parseScheme(value, schemes);
      if (scheme === undefined) return false;
      changed.scheme = connectionScheme(scheme, env.scheme);
      return true;
    }
    case 'host': {
      const host = parseHost(value);
      if (host === undefined) return false;
      changed.host = host.host;
      changed.serverName = host.name;
      changed.serverPort = host.port !== '' ? host.port : defaultPort(changed.scheme ?? env.scheme);
      return true;
    }
    case 'serverName': {
      const host = parseHost(value);
      if (host === undefined || host.port !== '') return false;
      changed.serverName = host.name;
      return true;
    }
    case 'serverPort': {
      if (parsePort(value) === undefined) return false;
      const host = changed.host ?? env.host;
      if (host !== '') changed.host = `${splitHostHeader(host).name}:${value}`;
      changed.serverPort = value;
      return true;
    }
    case 'scriptName': {
      const prefix = parsePrefix(value);
      if (prefix === undefined) return false;
      changed.scriptName = prefix;
      return true;
    }
  }
}

function settle(trace: RewriteFieldTrace, outcome: FieldOutcome, detail: string): void {
  trace.outcome = outcome;
  trace.used = outcome === 'used';
  trace.detail = detail;
}

/**
 * Wrap a gateway app so that it sees the values of the mapped headers in env fields — from trusted
 * proxies only, when `trusted` is given.
 *
 * Also callable as `rewriteHeaders(options)`, which returns a middleware for `compose`.
 *
 * @example
 * // Flask's CustomProxyFix: the proxy at 10.0.0.2 sends the public host in X-FHost.
 * app.gatewayApp = rewriteHeaders(app.gatewayApp, { map: { 'x-fhost': 'host' }, trusted: ['10.0.0.2'] });
 */
export function rewriteHeaders(options: RewriteHeadersOptions): Middleware;
export function rewriteHeaders(app: GatewayApp, options: RewriteHeadersOptions): GatewayApp;
export function rewriteHeaders(
  appOrOptions: GatewayApp | RewriteHeadersOptions,
  options?: RewriteHeadersOptions,
): GatewayApp | Middleware {
  return bothForms((opts: RewriteHeadersOptions) => {
    const rewrite = compileRewrite(opts);
    return (app) => {
      // Per wrapped app, not per module: each instance warns once, and nothing leaks between them.
      let warned = rewrite.peerTrusted !== null;
      return function headersRewritten(env: GatewayEnv) {
        if (!warned) {
          warned = true;
          // On the first request rather than at construction: a stack built in a test or a script
          // that never serves stays quiet, and a server's log shows it as soon as it serves.
          process.emitWarning(
            `rewriteHeaders without \`trusted\` copies ${rewrite.rules.map((r) => r.header).join(', ')} ` +
            'from every request: any client that can reach the app sets them. Pass `trusted` with your proxies\' addresses.',
            { type: 'ProxyFixWarning', code: UNTRUSTED_REWRITE_WARNING },
          );
        }
        const trace = rewrite.apply(env, rewrite.keepTrace);
        if (trace) env.ext[REWRITE_TRACE] = trace;
        return app(env);
      };
    };
  }, appOrOptions, options);
}
