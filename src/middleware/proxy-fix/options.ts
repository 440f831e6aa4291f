/**
 * proxyFix's options: checked once, when the middleware is built, into the settings the per-request
 * path reads. Every default is in the table below, where a reviewer can hold it against Werkzeug's.
 */
import { checkBoolean, checkCount, checkOptions, checkTrustUnixSocket, compileWarnings, configError, type ProxyFixWarningCode, type WarningHandler } from '../../options.js';
import { checkSchemes } from '../../net/scheme.js';
import { compilePeerTrust, compileTrustMatcher, type TrustInput, type TrustMatcher, type TrustPredicate } from '../../net/trust.js';
import type { FixedField } from '../../gateway.js';
import type { ForwardedField } from '../../trace.js';
import { ELEMENTS, VALUES, type HopFamily } from './hops.js';

export interface ProxyFixOptions {
  /**
   * How many values of `X-Forwarded-For` to count from the right: the number of proxies that append
   * to it. Werkzeug's `x_for`. With `trusted`, an upper bound; `Infinity` walks while trusted.
   * @default 1 (0 when `forwarded` is set)
   */
  xFor?: number;
  /**
   * How many values of `X-Forwarded-Proto` to count from the right. Werkzeug's `x_proto`.
   * @default 1 (0 when `forwarded` is set)
   */
  xProto?: number;
  /**
   * How many values of `X-Forwarded-Host` to count from the right. Werkzeug's `x_host`.
   * @default 0
   */
  xHost?: number;
  /**
   * How many values of `X-Forwarded-Port` to count from the right. Werkzeug's `x_port`.
   * @default 0
   */
  xPort?: number;
  /**
   * How many values of `X-Forwarded-Prefix` to count from the right. Werkzeug's `x_prefix`.
   * The one X-Forwarded header that may join `forwarded`, which has no prefix.
   * @default 0
   */
  xPrefix?: number;
  /**
   * How many RFC 7239 `Forwarded` elements to count from the right; `for`, `proto` and `host` are
   * taken from that one element. Excludes `xFor`, `xProto`, `xHost` and `xPort`: one header
   * family per deployment, and the other family's headers are ignored.
   * @default 0
   */
  forwarded?: number;
  /**
   * The proxies to trust: addresses, CIDR ranges, netmasks, named ranges (`loopback`, `private`,
   * `uniquelocal`, `linklocal`), or a predicate `(addr, hop) => boolean`. Without it, counts are
   * trusted blindly, as in Werkzeug.
   * @default undefined
   */
  trusted?: TrustInput;
  /**
   * Trust a peer with no address (a Unix socket). Only with `trusted`.
   * @default false
   */
  trustUnixSocket?: boolean;
  /**
   * Apply nothing when the enabled X-Forwarded-* headers carry different numbers of values
   * (ASP.NET's RequireHeaderSymmetry): a proxy skipped, or a header stripped on the way.
   * @default false
   */
  symmetric?: boolean;
  /**
   * Schemes a forwarded proto may set, compared without regard to case.
   * @default ['http', 'https', 'ws', 'wss']
   */
  schemes?: readonly string[];
  /**
   * Store the decision trace in `env.ext["proxyfix.trace"]` for the app to read.
   * @default false
   */
  trace?: boolean;
  /**
   * Warn (at most once an hour per kind) when requests suggest a misconfiguration: forwarded
   * headers from an untrusted peer (`PROXYFIX_UNTRUSTED_PEER`), or fewer values than a count asks
   * for (`PROXYFIX_TOO_FEW_VALUES`). Misconfigured proxy trust is otherwise silent.
   * @default true
   */
  warnings?: boolean;
  /**
   * Where warnings go: given a `ProxyFixWarning` (an `Error` with a `code`).
   * @default process.emitWarning
   */
  onWarning?: WarningHandler;
}

export type CountOption = 'xFor' | 'xProto' | 'xHost' | 'xPort' | 'xPrefix' | 'forwarded';

/**
 * The counts when an option is not given: Werkzeug's `ProxyFix(x_for=1, x_proto=1)`, one proxy
 * that reports the client and the scheme.
 */
const DEFAULT_COUNTS: Readonly<Record<CountOption, number>> = { xFor: 1, xProto: 1, xHost: 0, xPort: 0, xPrefix: 0, forwarded: 0 };
/** With `forwarded`, its element reports the client and the scheme: X-Forwarded-For and -Proto are read only when asked. */
const FORWARDED_DEFAULT_COUNTS: Readonly<Record<CountOption, number>> = { ...DEFAULT_COUNTS, xFor: 0, xProto: 0 };

/** A field proxyFix may set and the header it reads it from. */
export interface FieldHeader {
  /** The name the trace uses: what the header calls it. */
  field: ForwardedField;
  /** The env field it sets (with its companions: see src/fields.ts). */
  target: FixedField;
  option: CountOption;
  header: string;
  /** What the header holds per hop: a value (X-Forwarded-*) or an element of several (Forwarded). */
  hops: HopFamily;
}

/** A field as one proxyFix reads it: how many hops deep. */
export interface FieldRule extends FieldHeader {
  count: number;
  /** Whether it reads the header the trust walk reads, so that both share one parse. */
  walked: boolean;
}

/**
 * In the order Werkzeug applies them. The order carries meaning: a host without a port takes the
 * port of the scheme set before it, and a port rewrites the host set before it.
 */
const X_FORWARDED: readonly FieldHeader[] = [
  { field: 'for', target: 'remoteAddr', option: 'xFor', header: 'x-forwarded-for', hops: VALUES },
  { field: 'proto', target: 'scheme', option: 'xProto', header: 'x-forwarded-proto', hops: VALUES },
  { field: 'host', target: 'host', option: 'xHost', header: 'x-forwarded-host', hops: VALUES },
  { field: 'port', target: 'serverPort', option: 'xPort', header: 'x-forwarded-port', hops: VALUES },
  { field: 'prefix', target: 'scriptName', option: 'xPrefix', header: 'x-forwarded-prefix', hops: VALUES },
];
/** RFC 7239 has no prefix, so X-Forwarded-Prefix may join it. */
const FORWARDED: readonly FieldHeader[] = [
  { field: 'for', target: 'remoteAddr', option: 'forwarded', header: 'forwarded', hops: ELEMENTS },
  { field: 'proto', target: 'scheme', option: 'forwarded', header: 'forwarded', hops: ELEMENTS },
  { field: 'host', target: 'host', option: 'forwarded', header: 'forwarded', hops: ELEMENTS },
  X_FORWARDED[4]!,
];

/** A walk with `Infinity` reads at most this many hops: no deployment has more proxies. */
export const MAX_HOPS = 64;

const KNOWN_OPTIONS = new Set<string>([
  'xFor', 'xProto', 'xHost', 'xPort', 'xPrefix', 'forwarded', 'trusted', 'trustUnixSocket', 'symmetric', 'schemes', 'trace',
  'warnings', 'onWarning',
]);

/** What the per-request path reads: the options checked and compiled. */
export interface ProxyFixSettings {
  /** `x-forwarded` or `forwarded`: the header family this deployment reads. */
  family: 'x-forwarded' | 'forwarded';
  rules: readonly FieldRule[];
  /** The rules whose count is not 0, in the same order: what the per-request path reads. */
  enabled: readonly FieldRule[];
  /** Where the trust walk reads the hops' addresses: the for-values. */
  walkRule: FieldHeader;
  /** Whether an enabled rule reads `walkRule`'s header (X-Forwarded-For with `xFor: 0` is read by none). */
  readsWalkHeader: boolean;
  /** Headers of the family not chosen, named in the trace when a request carries them. */
  ignored: readonly FieldHeader[];
  /** `undefined` without `trusted`: counts are believed as they are. */
  trusts: TrustPredicate | undefined;
  /** `trusts` for an IPv4 address already read as a number; `undefined` for a predicate or no list. */
  trustsIPv4: TrustMatcher['ipv4'];
  /** Whether the socket peer is trusted; `undefined` without `trusted`. */
  trustsPeer: ((peer: string) => boolean) | undefined;
  symmetric: boolean;
  schemes: readonly string[];
  /** The largest count, bounded by MAX_HOPS: how far a trust walk may go. */
  maxCount: number;
  /** Keep the trace in `env.ext`. */
  trace: boolean;
  /** Give a warning; `undefined` when warnings are off. */
  warn: ((code: ProxyFixWarningCode, message: string) => void) | undefined;
}

export function compileOptions(options: ProxyFixOptions = {}): ProxyFixSettings {
  checkOptions(options, KNOWN_OPTIONS, 'proxyFix');
  for (const key of ['symmetric', 'trace'] as const) checkBoolean(key, options[key]);
  const trustUnixSocket = checkTrustUnixSocket(options.trusted, options.trustUnixSocket);
  const warn = compileWarnings(options.warnings, options.onWarning);
  const matcher = options.trusted === undefined ? undefined : compileTrustMatcher(options.trusted);
  const trusts = matcher?.test;
  const walking = trusts !== undefined;
  const count = (option: CountOption, fallback: number) =>
    options[option] === undefined ? fallback : checkCount(option, options[option], walking);

  const family = count('forwarded', DEFAULT_COUNTS.forwarded) > 0 ? 'forwarded' : 'x-forwarded';
  if (family === 'forwarded') {
    for (const option of ['xFor', 'xProto', 'xHost', 'xPort'] as const) {
      if (options[option] !== undefined && options[option] !== 0) {
        throw configError('ERR_PROXYFIX_OPTION_CONFLICT', option,
          'cannot be combined with `forwarded`: read either X-Forwarded-* or Forwarded, the one your proxies set ' +
          '(xPrefix may join forwarded, which has no prefix)');
      }
    }
    if (options.symmetric === true) {
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'symmetric',
        'applies to X-Forwarded-* headers; a Forwarded element carries all its fields together');
    }
  }
  const defaults = family === 'forwarded' ? FORWARDED_DEFAULT_COUNTS : DEFAULT_COUNTS;
  const chosen = family === 'forwarded' ? FORWARDED : X_FORWARDED;
  // The hops' addresses are in the for-values: X-Forwarded-For, or the Forwarded elements.
  const walkRule = chosen[0]!;
  const rules = chosen.map((rule): FieldRule =>
    ({ ...rule, count: count(rule.option, defaults[rule.option]), walked: rule.header === walkRule.header }));
  if (walking) checkWalk(rules, walkRule, options.symmetric === true);
  return {
    family,
    rules,
    enabled: rules.filter((rule) => rule.count !== 0),
    walkRule,
    readsWalkHeader: rules.some((rule) => rule.walked && rule.count !== 0),
    ignored: family === 'forwarded' ? X_FORWARDED.slice(0, 4) : [FORWARDED[0]!],
    trusts,
    trustsIPv4: matcher?.ipv4,
    trustsPeer: trusts === undefined ? undefined : compilePeerTrust(trusts, trustUnixSocket, matcher?.ipv4),
    symmetric: options.symmetric === true,
    schemes: checkSchemes(options.schemes),
    maxCount: Math.min(Math.max(...rules.map((rule) => rule.count)), MAX_HOPS),
    trace: options.trace === true,
    warn,
  };
}

/**
 * The counts a trust walk cannot keep. The walk learns which hops are trusted from the addresses
 * in the for-values, so every other count is checked against them:
 * - with `xFor: 0` X-Forwarded-For is never read, so nothing names the hops past the peer, and a
 *   count above 1 would believe a client that adds an X-Forwarded-For of its own;
 * - `Infinity` for a header other than the addresses reads at the depth the walk reached, which is
 *   the right value only if every trusted hop appended to that header too. `symmetric` checks that
 *   per request; without it the depth may land on a client's value.
 * Neither applies to the fields of Forwarded elements, which carry every field of a hop together.
 */
function checkWalk(rules: readonly FieldRule[], walkRule: FieldHeader, symmetric: boolean): void {
  const addresses = rules.find((rule) => rule.header === walkRule.header)!;
  for (const rule of rules) {
    if (rule.header === walkRule.header || rule.count <= 1) continue;
    if (addresses.count === 0) {
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', rule.option,
        `is ${rule.count} with \`trusted\` and \`${addresses.option}: 0\`: the trust walk learns the hops from ` +
        `${addresses.header}, which ${addresses.option} 0 leaves unread, so a client could name them. ` +
        `Set ${addresses.option} to 1 or more, or ${rule.option} to 1`);
    }
    if (rule.count === Infinity && !symmetric) {
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', rule.option,
        `is Infinity: with \`trusted\`, that reads ${rule.header} as deep as the addresses are trusted, which is the ` +
        `proxies' value only if every one of them appends to ${rule.header}. Give the number of proxies that set it, ` +
        'or add `symmetric: true` to check per request that every header has one value per hop');
    }
  }
}
