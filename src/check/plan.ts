/**
 * The requests `proxyfix check` sends, and what each one forges.
 *
 * A deployment is safe when nothing a client writes reaches the app as its client address, scheme,
 * host, port or prefix. Config files cannot prove that (a proxy may append where its config seems
 * to set, pass a header nobody thought of, or drop its own header when a client names it in
 * `Connection`), so the check asks the real chain: it sends requests through the public URL that
 * forge each forwarding header, and reads in the probe's answer what the app got. Each forged value
 * is a marker that no proxy would write (a TEST-NET-2 address, a host under `.invalid`, an unusual
 * port or prefix), so finding one in the app's view means a client put it there.
 *
 * The plan is fixed and small: a plain request, each X-Forwarded-* header forged alone, all of them
 * together, a forged Forwarded, the underscore spellings, the proxy's headers named in
 * `Connection`, and header lines repeated. With a direct URL the same again, straight to the app.
 */
import { DEFAULT_PROBE_PATH } from '../middleware/probe.js';
import { configError, describe } from '../options.js';

/** Where a request goes: through the proxies, or straight to the app. */
export type Target = 'public' | 'direct';

/** The env fields a forged value would land in. The host is judged by `serverName`: without the port. */
export type ClaimField = 'remoteAddr' | 'scheme' | 'serverName' | 'serverPort' | 'scriptName';

/** A forged value and the field it would set if the app believed it. */
export interface Claim {
  field: ClaimField;
  value: string;
  /** The header that carried it, as sent. */
  header: string;
}

export type RequestId =
  | 'plain' | 'x-forwarded-for' | 'x-forwarded-proto' | 'x-forwarded-host' | 'x-forwarded-port' | 'x-forwarded-prefix'
  | 'together' | 'forwarded' | 'aliases' | 'connection' | 'repeated';

export interface PlannedRequest {
  id: RequestId;
  target: Target;
  url: URL;
  /** What it tries, in words: "X-Forwarded-Host forged". */
  label: string;
  /** Header lines besides Host, the token and Accept, in order; a name may repeat (separate lines). */
  headers: [name: string, value: string][];
  /** What it forges, field by field. */
  claims: Claim[];
}

/** A header proxyFix reads, with the option that counts it and what the check forges in it. */
export interface ForwardingHeader {
  /** As the check sends it and the report names it. */
  name: string;
  /** Lower case: how the probe's answer keys it. */
  key: string;
  option: 'xFor' | 'xProto' | 'xHost' | 'xPort' | 'xPrefix' | 'forwarded';
  /** The field a value of it sets. */
  field: ClaimField;
}

export const X_FORWARDED: readonly ForwardingHeader[] = [
  { name: 'X-Forwarded-For', key: 'x-forwarded-for', option: 'xFor', field: 'remoteAddr' },
  { name: 'X-Forwarded-Proto', key: 'x-forwarded-proto', option: 'xProto', field: 'scheme' },
  { name: 'X-Forwarded-Host', key: 'x-forwarded-host', option: 'xHost', field: 'serverName' },
  { name: 'X-Forwarded-Port', key: 'x-forwarded-port', option: 'xPort', field: 'serverPort' },
  { name: 'X-Forwarded-Prefix', key: 'x-forwarded-prefix', option: 'xPrefix', field: 'scriptName' },
];
export const FORWARDED: ForwardingHeader = { name: 'Forwarded', key: 'forwarded', option: 'forwarded', field: 'remoteAddr' };
/** Every header whose writers the check counts. */
export const FORWARDING: readonly ForwardingHeader[] = [...X_FORWARDED, FORWARDED];

/**
 * The forged values. Addresses from TEST-NET-2 (RFC 5737) and hosts under `.invalid` (RFC 2606):
 * nothing real is ever called that, so a match can only be the check's own value.
 */
const FORGED = {
  for: '198.51.100.1',
  forwardedFor: '198.51.100.2',
  aliasFor: '198.51.100.3',
  lineFor: ['198.51.100.4', '198.51.100.5'],
  lineForwardedFor: ['198.51.100.7', '198.51.100.8'],
  realIp: '198.51.100.6',
  host: 'x-forwarded-host.proxyfix-check.invalid',
  forwardedHost: 'forwarded.proxyfix-check.invalid',
  aliasHost: 'alias.proxyfix-check.invalid',
  lineHost: ['line-1.proxyfix-check.invalid', 'line-2.proxyfix-check.invalid'],
  port: '4711',
  aliasPort: '4712',
  prefix: '/proxyfix-check-forged',
  aliasPrefix: '/proxyfix-check-alias',
} as const;

/** The scheme a client would claim: the one the URL does not use, so that believing it shows. */
export function forgedScheme(url: URL): string {
  return url.protocol === 'https:' ? 'http' : 'https';
}

/**
 * The probe's URL from what the user gave: a URL ending in `/` gets the default probe path
 * appended (`https://example.com` → `https://example.com/.well-known/proxyfix`, and an app
 * mounted under `/app/` → `/app/.well-known/proxyfix`); any other path is taken as the probe's.
 */
export function probeUrl(text: unknown, option: string): URL {
  let url: URL;
  try {
    url = new URL(String(text));
  } catch {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be an http:// or https:// URL, got ${describe(text)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || typeof text !== 'string') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be an http:// or https:// URL, got ${describe(text)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, 'must not carry a user name or password: the check sends only its token');
  }
  url.hash = '';
  if (url.pathname.endsWith('/')) url.pathname += DEFAULT_PROBE_PATH.slice(1);
  return url;
}

/** The requests for one target, in the order they are sent: the plain one first, the others compare with it. */
function requestsTo(url: URL, target: Target): PlannedRequest[] {
  const scheme = forgedScheme(url);
  const alone: [header: ForwardingHeader, value: string][] = [
    [X_FORWARDED[0]!, FORGED.for], [X_FORWARDED[1]!, scheme], [X_FORWARDED[2]!, FORGED.host],
    [X_FORWARDED[3]!, FORGED.port], [X_FORWARDED[4]!, FORGED.prefix],
  ];
  const claim = (header: string, field: ClaimField, value: string): Claim => ({ field, value, header });
  const forwardedClaims = (header: string, address: string, host: string): Claim[] => [
    claim(header, 'remoteAddr', address), claim(header, 'scheme', scheme), claim(header, 'serverName', host),
  ];
  const forwarded = `for=${FORGED.forwardedFor};proto=${scheme};host=${FORGED.forwardedHost}`;
  const request = (id: RequestId, label: string, headers: [string, string][], claims: Claim[]): PlannedRequest =>
    ({ id, target, url, label, headers, claims });
  return [
    request('plain', 'plain request', [], []),
    ...alone.map(([header, value]) => request(header.key as RequestId, `${header.name} forged`, [[header.name, value]], [claim(header.name, header.field, value)])),
    request('together', 'every forwarding header forged at once',
      [...alone.map(([header, value]): [string, string] => [header.name, value]), ['Forwarded', forwarded], ['X-Real-IP', FORGED.realIp]],
      [...alone.map(([header, value]) => claim(header.name, header.field, value)), ...forwardedClaims('Forwarded', FORGED.forwardedFor, FORGED.forwardedHost)]),
    request('forwarded', 'Forwarded forged', [['Forwarded', forwarded]], forwardedClaims('Forwarded', FORGED.forwardedFor, FORGED.forwardedHost)),
    request('aliases', 'X_Forwarded_* (underscores) forged', [
      ['X_Forwarded_For', FORGED.aliasFor], ['X_Forwarded_Proto', scheme], ['X_Forwarded_Host', FORGED.aliasHost],
      ['X_Forwarded_Port', FORGED.aliasPort], ['X_Forwarded_Prefix', FORGED.aliasPrefix],
    ], [
      claim('X_Forwarded_For', 'remoteAddr', FORGED.aliasFor), claim('X_Forwarded_Proto', 'scheme', scheme),
      claim('X_Forwarded_Host', 'serverName', FORGED.aliasHost), claim('X_Forwarded_Port', 'serverPort', FORGED.aliasPort),
      claim('X_Forwarded_Prefix', 'scriptName', FORGED.aliasPrefix),
    ]),
    // Sent with "close" in the same line: a second Connection line is what a proxy may well refuse.
    request('connection', 'the proxies\' headers named in Connection',
      [['Connection', `close, ${[...FORWARDING.map((header) => header.name), 'X-Real-IP'].join(', ')}`]], []),
    request('repeated', 'forwarding headers forged on two lines each', [
      ['X-Forwarded-For', FORGED.lineFor[0]], ['X-Forwarded-For', FORGED.lineFor[1]],
      ['X-Forwarded-Host', FORGED.lineHost[0]], ['X-Forwarded-Host', FORGED.lineHost[1]],
      ['Forwarded', `for=${FORGED.lineForwardedFor[0]}`], ['Forwarded', `for=${FORGED.lineForwardedFor[1]}`],
    ], [
      ...FORGED.lineFor.map((value) => claim('X-Forwarded-For', 'remoteAddr', value)),
      ...FORGED.lineHost.map((value) => claim('X-Forwarded-Host', 'serverName', value)),
      ...FORGED.lineForwardedFor.map((value) => claim('Forwarded', 'remoteAddr', value)),
    ]),
  ];
}

/** Every request of a check: through `url`, then, given `direct`, the same straight to the app. */
export function planRequests(url: URL, direct?: URL): PlannedRequest[] {
  return [...requestsTo(url, 'public'), ...(direct === undefined ? [] : requestsTo(direct, 'direct'))];
}

/** The header lines a request sent under `key` (lower case), in order. */
export function sentValues(request: PlannedRequest, key: string): string[] {
  return request.headers.filter(([name]) => name.toLowerCase() === key).map(([, value]) => value);
}
