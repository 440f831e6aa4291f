import { configError, describe } from '../options.js';

/**
 * Schemes a proxy may report. Anything else (`javascript`, `file`, a scheme with a colon or slashes)
 * would end up in URLs the app builds, so it is refused. Matching ignores case; the result is lower case.
 */
export const DEFAULT_SCHEMES: readonly string[] = ['http', 'https', 'ws', 'wss'];

/** The scheme in lower case when it is allowed, else `undefined`. */
export function parseScheme(value: string, allowed: readonly string[] = DEFAULT_SCHEMES): string | undefined {
  // The allowed names are lower case: a value found as it is needs no lowering, the usual case.
  if (allowed.includes(value)) return value;
  const scheme = value.toLowerCase();
  return allowed.includes(scheme) ? scheme : undefined;
}

/**
 * The scheme a reported one gives a request that is `current` now. A WebSocket request stays one:
 * proxies report `https` for a `wss` connection (nginx's `$scheme`), and it becomes `wss`.
 */
export function connectionScheme(reported: string, current: string): string {
  if (current !== 'ws' && current !== 'wss') return reported;
  return reported === 'https' ? 'wss' : reported === 'http' ? 'ws' : reported;
}

/** The `schemes` option: a non-empty list of URI scheme names, lowered; the default when absent. */
export function checkSchemes(schemes: unknown): readonly string[] {
  if (schemes === undefined) return DEFAULT_SCHEMES;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'schemes', `must be a non-empty array of scheme names, got ${describe(schemes)}`);
  }
  return schemes.map((scheme: unknown, i) => {
    if (typeof scheme !== 'string' || !/^[a-z][a-z0-9+.-]*$/i.test(scheme)) {
      throw configError('ERR_PROXYFIX_OPTION_TYPE', `schemes[${i}]`, `must be a URI scheme name, got ${describe(scheme)}`);
    }
    return scheme.toLowerCase();
  });
}
