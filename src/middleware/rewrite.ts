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
import { invalidValue, TraceRecorder, untrustedPeer, usedValue, type FieldTrace } from '../trace.js';
import { originalValue, type FixedField, type GatewayApp, type GatewayEnv, type Middleware } from '../gateway.js';
import { applyValue, FIELD_ORDER, writeChanges, type Changes } from '../fields.js';
import {
  checkBoolean, checkOptions, checkPosition, checkTrustUnixSocket, compileWarnings, configError, describe, isToken, type WarningHandler,
} from '../options.js';
import { bothForms } from '../app-kind.js';
import { isBlank, itemFromRight } from '../net/list.js';
import { checkSchemes } from '../net/scheme.js';
import { compilePeerTrust, compileTrust, type TrustInput } from '../net/trust.js';

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
  /**
   * Give the warning about a missing `trusted` (`PROXYFIX_UNTRUSTED_REWRITE`).
   * @default true
   */
  warnings?: boolean;
  /**
   * Where warnings go: given a `ProxyFixWarning` (an `Error` with a `code`).
   * @default process.emitWarning
   */
  onWarning?: WarningHandler;
}

/**
 * What the trace says about one mapped header: proxyFix's `FieldTrace`, where `field` is the env
 * field the header is mapped to and `option` the map entry (`map["x-fhost"]`). Outcomes are `used`,
 * `absent`, `too-few-values`, `invalid` or `untrusted`.
 */
export type RewriteFieldTrace = Omit<FieldTrace, 'field'> & { field: RewriteTarget };

/** `env.ext[REWRITE_TRACE]` holds the trace when the `trace` option is on. */
export const REWRITE_TRACE = 'proxyfix.rewrite.trace';

declare module '../gateway.js' {
  interface GatewayExt {
    /** rewriteHeaders' trace, when its `trace` option is on (`REWRITE_TRACE`). */
    'proxyfix.rewrite.trace'?: RewriteFieldTrace[];
  }
}

/** Whatever the order of the map, fields are applied in the one order of src/fields.ts. */
const TARGETS = FIELD_ORDER;

const KNOWN_OPTIONS = new Set(['map', 'trusted', 'trustUnixSocket', 'count', 'schemes', 'trace', 'warnings', 'onWarning']);

interface MapRule {
  field: RewriteTarget;
  option: string;
  header: string;
  count: number;
}

/** The map's entries as rules, in application order; throws for anything ambiguous. */
function compileMap(map: unknown, count: number): MapRule[] {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'map',
      `must be an object from header names to env fields, such as { 'x-fhost': 'host' }; got ${describe(map)}`);
  }
  const symbol = Object.getOwnPropertySymbols(map)[0];
  if (symbol !== undefined) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', `map[${String(symbol)}]`, 'is not a header name: header names are strings');
  }
  const byField = new Map<RewriteTarget, MapRule>();
  const byHeader = new Map<string, string>();
  for (const [name, entry] of Object.entries(map)) {
    const option = `map[${JSON.stringify(name)}]`;
    if (!isToken(name)) throw configError('ERR_PROXYFIX_OPTION_TYPE', option, 'is not a header name');
    const header = name.toLowerCase();
    const sameHeader = byHeader.get(header);
    if (sameHeader !== undefined) {
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', option, `names the same header as \`${sameHeader}\`: header names ignore case`);
    }
    byHeader.set(header, option);
    let field: unknown = entry;
    let entryCount = count;
    if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) {
      for (const key of Object.keys(entry)) {
        if (key !== 'field' && key !== 'count') {
          throw configError('ERR_PROXYFIX_OPTION_TYPE', `${option}.${key}`, 'is not a map entry option (field, count)');
        }
      }
      field = (entry as { field?: unknown }).field;
      const own = (entry as { count?: unknown }).count;
      if (own !== undefined) entryCount = checkPosition(`${option}.count`, own);
    }
    if (typeof field !== 'string' || !(TARGETS as readonly string[]).includes(field)) {
      throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be one of ${TARGETS.join(', ')}; got ${describe(field)}`);
    }
    const target = field as RewriteTarget;
    const earlier = byField.get(target);
    if (earlier !== undefined) {
      // Two sources for one field would make the result depend on which header the client sent.
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', option, `sets ${target}, which \`${earlier.option}\` sets already`);
    }
    byField.set(target, { field: target, option, header, count: entryCount });
  }
  if (byField.size === 0) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'map', 'must map at least one header to an env field');
  }
  return TARGETS.flatMap((target) => byField.get(target) ?? []);
}

interface CompiledRewrite {
  rules: readonly MapRule[];
  /** `undefined` when no trust list is configured. */
  peerTrusted: ((peer: string) => boolean) | undefined;
  apply(env: GatewayEnv, tracing: boolean): RewriteFieldTrace[] | undefined;
  keepTrace: boolean;
  warn: ReturnType<typeof compileWarnings>;
}

function compileRewrite(options: RewriteHeadersOptions): CompiledRewrite {
  checkOptions(options, KNOWN_OPTIONS, 'rewriteHeaders');
  checkBoolean('trace', options.trace);
  const count = options.count === undefined ? 1 : checkPosition('count', options.count);
  const rules = compileMap(options.map, count);
  const schemes = checkSchemes(options.schemes);
  const trustUnixSocket = checkTrustUnixSocket(options.trusted, options.trustUnixSocket);
  const peerTrusted = options.trusted === undefined ? undefined : compilePeerTrust(compileTrust(options.trusted), trustUnixSocket);
  const warnings = compileWarnings(options.warnings, options.onWarning);
  // The one warning is about a missing `trusted`.
  const warn = options.trusted === undefined ? warnings : undefined;

  /** Rewrite `env`; with `tracing`, also say why for each rule (without it, nothing is built). */
  function apply(env: GatewayEnv, tracing: boolean): RewriteFieldTrace[] | undefined {
    const peer = originalValue(env, 'remoteAddr');
    const trusted = peerTrusted === undefined || peerTrusted(peer);
    const changes: Changes = {};
    const record = tracing ? new TraceRecorder<RewriteFieldTrace>() : undefined;
    for (const rule of rules) {
      record?.open({
        field: rule.field, option: rule.option, header: rule.header, count: rule.count,
        depth: null, value: null, used: false, outcome: 'absent', detail: `no ${rule.header} header`,
      });
      if (!trusted) {
        record?.settle('untrusted', untrustedPeer(peer));
        continue;
      }
      const header = env.headers[rule.header];
      if (isBlank(header)) continue;
      const value = itemFromRight(header!, rule.count);
      if (value === undefined) {
        record?.settle('too-few-values', `${rule.option} counts ${rule.count} values from the right, but ${rule.header} has fewer`);
        continue;
      }
      record?.read(rule.count, value);
      if (applyValue(rule.field, value, changes, env, schemes)) record?.settle('used', usedValue(rule.field, changes));
      else record?.settle('invalid', invalidValue(rule.field, value));
    }
    writeChanges(env, changes);
    return record?.entries;
  }

  return { rules, peerTrusted, apply, keepTrace: options.trace === true, warn };
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
      let warn = rewrite.warn;
      return function headersRewritten(env: GatewayEnv) {
        if (warn !== undefined) {
          const once = warn;
          warn = undefined;
          // On the first request rather than at construction: a stack built in a test or a script
          // that never serves stays quiet, and a server's log shows it as soon as it serves.
          once('PROXYFIX_UNTRUSTED_REWRITE',
            `rewriteHeaders without \`trusted\` copies ${rewrite.rules.map((r) => r.header).join(', ')} ` +
            'from every request: any client that can reach the app sets them. Pass `trusted` with your proxies\' addresses.');
        }
        const trace = rewrite.apply(env, rewrite.keepTrace);
        if (trace) env.ext[REWRITE_TRACE] = trace;
        return app(env);
      };
    };
  }, appOrOptions, options);
}
