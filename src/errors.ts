/**
 * Configuration errors. They are thrown when a middleware is built, never per request, as the
 * built-in `TypeError` (wrong kind of value) or `RangeError` (right kind, out of range) with the
 * option named in backticks and a stable `code` to branch on.
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

export function configError(
  kind: typeof TypeError | typeof RangeError,
  code: ConfigErrorCode,
  option: string,
  message: string,
): ConfigError {
  const error = new kind(`\`${option}\` ${message}`) as ConfigError;
  error.code = code;
  error.option = option;
  return error;
}

/** A hop count: a non-negative integer, or `Infinity` where `allowInfinity` says so. */
export function checkCount(option: string, value: unknown, allowInfinity: boolean): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option,
      `must be a non-negative integer (a hop count), got ${describe(value)}`);
  }
  if (value === Infinity && allowInfinity) return value;
  if (!Number.isInteger(value) || value < 0) {
    throw configError(RangeError, 'ERR_PROXYFIX_OPTION_RANGE', option,
      value === Infinity
        ? 'may be Infinity only together with `trusted`: without a trust list it would take the leftmost, client-written value'
        : `must be a non-negative integer (a hop count), got ${describe(value)}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : `an ${typeof value}`;
}

/** What an adapter does with an app's error when it is given no `onError`: the stack to stderr. */
export function writeStack(error: unknown): void {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
}
