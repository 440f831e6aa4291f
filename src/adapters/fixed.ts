/**
 * `fixedOf(request)`: what the middlewares decided about a request, for code that only has the
 * framework's request object (a node `IncomingMessage` or a fetch `Request`) and not the env.
 */
import { TRACE, type ProxyFixTrace } from '../trace.js';
import { type GatewayEnv, ORIGINALS, type Originals, requestUrl } from '../gateway.js';

/**
 * The key under which the objects an adapter hands to an app answer with their env: the socket
 * view on a node request (`presentToNode`) and the `Request` view of `fromFetchHandler`. Nothing
 * is stored on node's or undici's own objects: a property added to node's IncomingMessage changes
 * its shape, and cost Express 2.7 µs a request in the profile; a WeakMap entry cost as much again.
 */
export const ENV = Symbol('proxyfix.env');

/** The env an adapter handed to an app with `request` (a node request or a fetch `Request`), if any. */
export function envOf(request: object): GatewayEnv | undefined {
  const view = request as { [ENV]?: GatewayEnv; socket?: { [ENV]?: GatewayEnv } | null };
  return view[ENV] ?? view.socket?.[ENV];
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
  const env = envOf(request);
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

