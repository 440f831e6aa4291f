/**
 * Option checking and configuration errors, for every factory, adapter and the server.
 *
 * A configuration mistake is found when a middleware is built, never per request: the error names
 * the option in backticks, as the user spells it (`xFor`, `trusted[3]`), and carries a stable
 * `code`. The code alone decides the class, `TypeError` for a wrong kind of value or a combination
 * that cannot work, `RangeError` for the right kind out of range, so one mistake always throws the
 * same thing wherever it is made. `isConfigError` is the guard to branch on.
 */

export type ConfigErrorCode =
  | 'ERR_PROXYFIX_OPTION_TYPE'
  | 'ERR_PROXYFIX_OPTION_RANGE'
  | 'ERR_PROXYFIX_OPTION_CONFLICT'
  | 'ERR_PROXYFIX_TRUST_ENTRY'
  | 'ERR_PROXYFIX_HOST_PATTERN';

export interface ConfigError extends Error {
  code: ConfigErrorCode;
  /** The option at fault, as the user spells it: `xFor`, `trusted[3]`. */
  option: string;
}

const CLASS_OF: Readonly<Record<ConfigErrorCode, typeof TypeError | typeof RangeError>> = {
  ERR_PROXYFIX_OPTION_TYPE: TypeError,
  ERR_PROXYFIX_OPTION_RANGE: RangeError,
  ERR_PROXYFIX_OPTION_CONFLICT: TypeError,
  ERR_PROXYFIX_TRUST_ENTRY: TypeError,
  ERR_PROXYFIX_HOST_PATTERN: TypeError,
};

export function configError(code: ConfigErrorCode, option: string, message: string): ConfigError {
  const error = new CLASS_OF[code](`\`${option}\` ${message}`) as ConfigError;
  error.code = code;
  error.option = option;
  return error;
}

/**
 * Whether `error` is a proxyfix configuration error, so that a caller can tell a mistake in its
 * options from anything else a start-up throws.
 *
 * @example
 * try { app.gatewayApp = proxyFix(app.gatewayApp, options); }
 * catch (error) { if (isConfigError(error)) console.error(`${error.option}: ${error.message}`); else throw error; }
 */
export function isConfigError(error: unknown): error is ConfigError {
  return (error instanceof TypeError || error instanceof RangeError) &&
    Object.hasOwn(CLASS_OF, (error as { code?: unknown }).code as string) &&
    typeof (error as { option?: unknown }).option === 'string';
}

/** A value as an error message shows it: strings quoted, objects by kind, never their contents. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : `an ${typeof value}`;
}

/** Throw for an options value that is not a plain object, or that has a key `known` lacks. */
export function checkOptions(options: unknown, known: ReadonlySet<string>, factory: string): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw configError('ERR_PROXYFIX_OPTION_TYPE', key, `is not a ${factory} option`);
  }
}

/** Throw unless `value` is a boolean or absent. */
export function checkBoolean(option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be a boolean, got ${describe(value)}`);
  }
}

/** A hop count: a non-negative integer, or `Infinity` where `allowInfinity` says so. */
export function checkCount(option: string, value: unknown, allowInfinity: boolean): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be a non-negative integer (a hop count), got ${describe(value)}`);
  }
  if (value === Infinity && allowInfinity) return value;
  if (!Number.isInteger(value) || value < 0) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', option,
      value === Infinity
        ? 'may be Infinity only together with `trusted`: without a trust list it would take the leftmost, client-written value'
        : `must be a non-negative integer (a hop count), got ${describe(value)}`);
  }
  return value;
}

/** A position in a comma list, counted from the right: a positive integer. */
export function checkPosition(option: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
      `must be a positive integer (which value from the right), got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', option,
      `must be a positive integer (which value from the right), got ${describe(value)}`);
  }
  return value;
}

/**
 * `trustUnixSocket: true` is an add-on to a trust list; alone it would read as trusting something.
 * `false` is the default said out loud, which a generated configuration may do.
 */
export function checkTrustUnixSocket(trusted: unknown, trustUnixSocket: unknown): boolean {
  checkBoolean('trustUnixSocket', trustUnixSocket);
  if (trustUnixSocket === true && trusted === undefined) {
    throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'trustUnixSocket', 'has no effect without `trusted`');
  }
  return trustUnixSocket === true;
}

/** The longest delay node's timers keep: above it they fire at once instead of late. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An integer from `min` to `max`; `unit` is said after the number (` (milliseconds)`). */
export function checkInteger(option: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be an integer${unit}, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', option, `must be from ${min} to ${max}${unit}, got ${value}`);
  }
  return value;
}

/** What a header value carries unchanged from end to end: visible ASCII, no spaces or controls. */
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

export function isVisibleAscii(value: unknown): value is string {
  return typeof value === 'string' && VISIBLE_ASCII.test(value);
}

/** An RFC 9110 token: what a header name or a method must be. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN.test(value);
}

/** The codes of the warnings proxyfix's middlewares give, one per kind of likely misconfiguration. */
export type ProxyFixWarningCode = 'PROXYFIX_UNTRUSTED_PEER' | 'PROXYFIX_TOO_FEW_VALUES' | 'PROXYFIX_UNTRUSTED_REWRITE';

/** What `onWarning` is given: an `Error` named `ProxyFixWarning`, with its `code`. */
export interface ProxyFixWarning extends Error {
  name: 'ProxyFixWarning';
  code: ProxyFixWarningCode;
}

/** Where a middleware's warnings go. */
export type WarningHandler = (warning: ProxyFixWarning) => void;

/** The default: a process warning, which node prints once to stderr and a `'warning'` listener sees. */
function emitProcessWarning(warning: ProxyFixWarning): void {
  process.emitWarning(warning);
}

/** Check `onWarning` and return the function that gives a warning, or `undefined` when `warnings` is false. */
export function compileWarnings(warnings: unknown, onWarning: unknown): ((code: ProxyFixWarningCode, message: string) => void) | undefined {
  checkBoolean('warnings', warnings);
  if (onWarning !== undefined && typeof onWarning !== 'function') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'onWarning', `must be a function, got ${describe(onWarning)}`);
  }
  if (warnings === false) {
    if (onWarning !== undefined) {
      throw configError('ERR_PROXYFIX_OPTION_CONFLICT', 'onWarning', 'has no effect with `warnings: false`');
    }
    return undefined;
  }
  const handler = (onWarning as WarningHandler | undefined) ?? emitProcessWarning;
  return (code, message) => {
    const warning = new Error(message) as ProxyFixWarning;
    warning.name = 'ProxyFixWarning';
    warning.code = code;
    try {
      handler(warning);
    } catch {
      // A warning must not fail the request it is about: node's own channel carries it instead.
      emitProcessWarning(warning);
    }
  };
}
