/**
 * Schemes a proxy may report. Anything else (`javascript`, `file`, a scheme with a colon or slashes)
 * would end up in URLs the app builds, so it is refused. Matching ignores case; the result is lower case.
 */
export const DEFAULT_SCHEMES: readonly string[] = ['http', 'https', 'ws', 'wss'];

/** The scheme in lower case when it is allowed, else `undefined`. */
export function parseScheme(value: string, allowed: readonly string[] = DEFAULT_SCHEMES): string | undefined {
  const scheme = value.toLowerCase();
  return allowed.includes(scheme) ? scheme : undefined;
}
