/** A TCP port as a header carries it: decimal, 1 to 65535, no sign, no leading zeros. */
export function parsePort(value: string): number | undefined {
  if (value.length === 0 || value.length > 5) return undefined;
  const first = value.charCodeAt(0);
  if (first < 49 /* 1 */ || first > 57) return undefined;
  let port = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    port = port * 10 + digit;
  }
  return port <= 65535 ? port : undefined;
}

/** The port a scheme implies when none is given. */
export function defaultPort(scheme: string): string {
  return scheme === 'https' || scheme === 'wss' ? '443' : '80';
}
