/**
 * `fixedOf(request)`: what the middlewares decided about a request, for code that only has the
 * framework's request object (a node `IncomingMessage` or a fetch `Request`) and not the env.
 */
import { TRACE, type ProxyFixTrace } from '../trace.js';
import { type GatewayEnv, ORIGINALS, type Originals, requestUrl } from '../gateway.js';

/** Where an adapter leaves the env on the request object it hands to the app. */
const ENV = Symbol('proxyfix.env');

/** Let `fixedOf(target)` find `env`. */
export function remember(target: object, env: GatewayEnv): void {
  (target as { [ENV]?: GatewayEnv })[ENV] = env;
}

/** What `fixedOf` returns: the request as the middlewares left it. */
export interface FixedRequest
  extends Pick<GatewayEnv, 'remoteAddr' | 'remotePort' | 'scheme' | 'host' | 'serverName' | 'serverPort' | 'scriptName' | 'pathInfo' | 'queryString'> {
  /** The URL the client asked for, prefix included: `https://example.com/app/users?x=1`. */
  url: string;
  /** Each field a middleware replaced, with the value it had before (the socket's, the Host header's). */
  originals: Originals;
  /** proxyFix's decision trace, when its `trace` option is on; see `explain`. */
  trace: ProxyFixTrace | undefined;
  /** The whole env, headers and `ext` included. */
  env: GatewayEnv;
}

/**
 * The fixed client address, scheme, host, port and prefix of a request that an adapter handed to
 * the app it wraps: a node request (`fromNodeListener`, `proxyFixNode`, upgrades) or a fetch
 * `Request` (`fromFetchHandler`, `proxyFixFetch`). `undefined` for any other request.
 *
 * @example
 * app.get('/', (req, res) => res.send(fixedOf(req)?.url)); // "https://example.com/app/"
 */
export function fixedOf(request: object): FixedRequest | undefined {
  const env = (request as { [ENV]?: GatewayEnv })[ENV];
  if (env === undefined) return undefined;
  return {
    remoteAddr: env.remoteAddr,
    remotePort: env.remotePort,
    scheme: env.scheme,
    host: env.host,
    serverName: env.serverName,
    serverPort: env.serverPort,
    scriptName: env.scriptName,
    pathInfo: env.pathInfo,
    queryString: env.queryString,
    url: requestUrl(env),
    originals: { ...env.ext[ORIGINALS] },
    trace: env.ext[TRACE],
    env,
  };
}

