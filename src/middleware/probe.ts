/**
 * probe: an endpoint that tells a checker, from behind the real proxy chain, what the app saw.
 *
 * Whether a deployment can be fooled is decided by what reaches the app, not by what the proxy
 * configs say: `proxyfix check` sends forged headers through the public URL and needs the app to
 * say what it saw before and after fixing. That answer is exactly what someone mapping the
 * deployment wants (the internal addresses, the proxies' headers, the trust decisions), and it
 * echoes a request, so:
 *
 * - It answers only a request that carries the token in `proxyfix-probe-token`. Both the token and
 *   what was sent are hashed (SHA-256) and the digests compared with `timingSafeEqual`: equal
 *   lengths always, so the time taken says nothing about how much of the token, or how many
 *   characters of it, a guess got right. A wrong or missing token gets a bare 404 whatever the
 *   method, as if nothing were there: the endpoint does not advertise itself.
 * - The answer goes through the inspection app's redaction rules (../redact.ts), the token header is
 *   left out, and the token is cut wherever else it turns up (a client can copy it into any header).
 * - It matches the path the server received, not one a fixer rewrote: the check forges
 *   `X-Forwarded-Prefix` on purpose, and a forged prefix must not move the probe away.
 *
 * It sees what the middlewares in front of it did, so it goes inside proxyFix, with `trace: true`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ORIGINALS, REQUEST_FIELDS, refusal, type GatewayApp, type GatewayEnv, type GatewayResponse, type Middleware, originalValue, type RequestField } from '../gateway.js';
import { checkOptions, configError, describe, isVisibleAscii } from '../options.js';
import { bothForms } from '../app-kind.js';
import { parsePrefix } from '../net/prefix.js';
import { compileRedaction, REDACTED, Redactor, type Redacted } from '../redact.js';
import { TRACE, type ProxyFixTrace } from '../trace.js';

export interface ProbeOptions {
  /**
   * The path the probe answers at, exactly: a clean absolute path (no `//`, `.` or `..` segment,
   * `\`, encoded slash or dot, query, or trailing `/`). Requests for any other path, one below it
   * included, go to the app untouched.
   * @default '/.well-known/proxyfix'
   */
  path?: string;
  /**
   * The secret a probe request carries in the `proxyfix-probe-token` header: at least 16 visible
   * ASCII characters (`openssl rand -hex 32` makes a good one). Required.
   */
  token: string;
  /**
   * The proxyFix options in effect, shown in the answer as `options` so that a checker can say
   * whether they fit the chain it sees. `Infinity` is shown as `"Infinity"`, a function as `"(function)"`.
   * @default undefined (`options: null` in the answer)
   */
  options?: object;
}

/** The env fields an answer shows, before and after fixing. */
export type ProbeFields = Pick<GatewayEnv, RequestField>;

/** An option value as the answer shows it: JSON, with `Infinity` and functions spelled as strings. */
export type EchoedOption = string | number | boolean | null | EchoedOption[] | { [name: string]: EchoedOption };

/** The JSON a probe answers with. */
export interface ProbeAnswer {
  /** The format's version. */
  probe: 1;
  /** The env fields as the server made them, before any middleware replaced one. */
  before: ProbeFields;
  /** The env fields as the app sees them. */
  after: ProbeFields;
  /** The request headers as the env has them (repeated lines joined), redacted, without the token's. */
  headers: Record<string, string>;
  /**
   * proxyFix's decision trace when a proxyFix with `trace: true` is in front, else `null`. JSON has
   * no `Infinity`: a count of `Infinity` reads as `null` here.
   */
  trace: ProxyFixTrace | null;
  /** The `options` the probe was given, JSON-safe; `null` when none. */
  options: { [name: string]: EchoedOption } | null;
  /** What was shown as `(redacted)` above, by name: never a value. */
  redacted: Redacted;
}

/** The request header that carries the token. */
export const PROBE_TOKEN_HEADER = 'proxyfix-probe-token';
export const DEFAULT_PROBE_PATH = '/.well-known/proxyfix';
/** Long enough that guessing is hopeless; a short one is likely a placeholder left in. */
const MIN_TOKEN_LENGTH = 16;

const KNOWN_OPTIONS = new Set(['path', 'token', 'options']);

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** `value` with every occurrence of `token` cut; a cut can join a new one, so until there is none. */
function cutToken(value: string, token: string): string {
  // Each pass shortens the text (REDACTED is shorter than any token), so this ends.
  while (value.includes(token)) value = value.replaceAll(token, REDACTED);
  return value;
}

/**
 * A record a client names the keys of: without a prototype, so that a header called `__proto__`
 * is stored like any other rather than replacing the record's prototype (and vanishing).
 */
function record<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/** A copy of JSON-like data with the token cut from every string in it, names included. */
function withoutToken<T>(value: T, token: string): T {
  if (typeof value === 'string') return cutToken(value, token) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => withoutToken(item, token)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const copy = record<unknown>();
  for (const [name, item] of Object.entries(value)) copy[cutToken(name, token)] = withoutToken(item, token);
  return copy as T;
}

/** An option value as JSON can carry it; `undefined` leaves it out. `seen` stops at a cycle. */
function echoed(value: unknown, seen: Set<object>): EchoedOption | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'function') return '(function)';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value !== 'object') return String(value);
  if (seen.has(value)) return '(circular)';
  seen.add(value);
  let shown: EchoedOption;
  if (Array.isArray(value)) {
    shown = value.map((item: unknown) => echoed(item, seen) ?? null);
  } else {
    const fields = record<EchoedOption>();
    for (const [name, item] of Object.entries(value)) {
      const itemShown = echoed(item, seen);
      if (itemShown !== undefined) fields[name] = itemShown;
    }
    shown = fields;
  }
  seen.delete(value);
  return shown;
}

interface CompiledProbe {
  path: string;
  token: string;
  /** The token's digest, computed once. */
  expected: Buffer;
  options: { [name: string]: EchoedOption } | null;
}

function compileProbe(input: ProbeOptions): CompiledProbe {
  checkOptions(input, KNOWN_OPTIONS, 'probe');
  const { token, path = DEFAULT_PROBE_PATH, options } = input;
  if (typeof token !== 'string') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'token',
      `is required: a secret of at least ${MIN_TOKEN_LENGTH} characters that probe requests carry in ${PROBE_TOKEN_HEADER}, got ${describe(token)}`);
  }
  if (!isVisibleAscii(token)) {
    // Not quoted back: it is a secret, and what is wrong with it is said in words.
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'token', 'must be visible ASCII characters only (no spaces or control characters): it travels in a header');
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'token', `must be at least ${MIN_TOKEN_LENGTH} characters long, got ${token.length}`);
  }
  if (typeof path !== 'string') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'path', `must be a path such as ${JSON.stringify(DEFAULT_PROBE_PATH)}, got ${describe(path)}`);
  }
  // The rule a forwarded prefix must meet, and no trailing "/": the path is compared as it is.
  if (parsePrefix(path) !== path || path === '') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'path',
      `must be a clean absolute path below "/" (no "//", "." or ".." segment, "\\", encoded "/" or ".", query or trailing "/"), got ${describe(path)}`);
  }
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'options', `must be the proxyFix options object, got ${describe(options)}`);
  }
  return {
    path,
    token,
    expected: digest(token),
    options: options === undefined ? null : echoed(options, new Set()) as { [name: string]: EchoedOption },
  };
}

/** The JSON answer for `env`, with the token cut from all of it before redaction and after. */
function answerFor(env: GatewayEnv, probe: CompiledProbe, redactor: Redactor): ProbeAnswer {
  const originals: Partial<Record<string, string>> = env.ext[ORIGINALS] ?? {};
  const before = {} as ProbeFields;
  const after = {} as ProbeFields;
  for (const field of REQUEST_FIELDS) {
    before[field] = originals[field] ?? env[field];
    after[field] = env[field];
  }
  // Cut first, so that redaction cannot split an occurrence and leave its pieces on show.
  const seen = withoutToken({ before, after, headers: env.headers, trace: env.ext[TRACE] ?? null }, probe.token);
  const headers = record<string>();
  for (const [name, value] of Object.entries(seen.headers)) {
    if (name !== PROBE_TOKEN_HEADER) headers[name] = redactor.header(name, value);
  }
  return withoutToken({
    probe: 1,
    before: redactor.fields(seen.before),
    after: redactor.fields(seen.after),
    headers,
    trace: seen.trace === null ? null : redactor.trace(seen.trace),
    options: probe.options,
    redacted: redactor.redacted,
  }, probe.token);
}

/** What a request without the right token gets: what a path that does not exist would give. */
function notFound(): GatewayResponse {
  return {
    status: 404,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
    body: 'Not Found\n',
  };
}

const encoder = new TextEncoder();

/**
 * Wrap a gateway app so that a request for `path` carrying the token in `proxyfix-probe-token` is
 * answered with what the app would have seen, as JSON (`ProbeAnswer`): the env fields before and
 * after fixing, the headers and proxyFix's trace, redacted. Any other request goes to the app
 * untouched; one for `path` without the right token gets a 404; a GET or HEAD is all it answers.
 * Mount it inside proxyFix, which must have `trace: true` for the answer to hold the trace.
 *
 * Also callable as `probe(options)`, which returns a middleware for `compose`.
 *
 * @example
 * const fix = { xFor: 1, xProto: 1 };
 * app.gatewayApp = proxyFix(probe(app.gatewayApp, { token: process.env.PROBE_TOKEN, options: fix }), { ...fix, trace: true });
 * // curl -H "proxyfix-probe-token: $PROBE_TOKEN" https://example.com/.well-known/proxyfix
 */
export function probe(options: ProbeOptions): Middleware;
export function probe(app: GatewayApp, options: ProbeOptions): GatewayApp;
export function probe(appOrOptions: GatewayApp | ProbeOptions, options?: ProbeOptions): GatewayApp | Middleware {
  return bothForms((opts: ProbeOptions) => {
    const compiled = compileProbe(opts);
    const rules = compileRedaction({});
    return (app) => function probed(env: GatewayEnv) {
      if (originalValue(env, 'scriptName') + env.pathInfo !== compiled.path) return app(env);
      // One path for every request here: missing, short, long, near or right, hashed and compared the same.
      const presented = digest(env.headers[PROBE_TOKEN_HEADER] ?? '');
      if (!timingSafeEqual(presented, compiled.expected)) return notFound();
      if (env.method !== 'GET' && env.method !== 'HEAD') {
        const refused = refusal(405, 'the probe answers GET and HEAD only');
        refused.headers = { ...refused.headers, allow: 'GET, HEAD', 'cache-control': 'no-store' };
        return refused;
      }
      const body = encoder.encode(`${JSON.stringify(answerFor(env, compiled, new Redactor(rules)), null, 2)}\n`);
      return {
        status: 200,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          // A HEAD answer states the length the GET would have; adapters send no body for it either way.
          'content-length': String(body.byteLength),
        },
        ...(env.method === 'HEAD' ? {} : { body }),
      };
    };
  }, appOrOptions, options);
}
