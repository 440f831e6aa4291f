/**
 * What `serve` and `proxyfix serve` accept: any app a node user has. A gateway app (or a holder of
 * one) is served as it is; a node:http request listener, a Koa app or a Fastify instance through
 * `fromNodeListener`; a fetch handler or an object with a `fetch` method (Hono's `export default
 * app`) through `fromFetchHandler`. uvicorn's `--interface` is the model: found out by default,
 * named when the guess would be wrong (a one-argument fetch handler looks like a gateway app).
 */
import { APP_KIND, checkAppOrHolder, recognize } from '../app-kind.js';
import { configError } from '../options.js';
import type { GatewayApp, GatewayHolder } from '../gateway.js';
import { fromFetchHandler, type FetchHandler } from './fetch.js';
import { fromNodeListener, type NodeListener } from './node.js';

/** The kind of app given to `serve`: `auto` tells it from what the app looks like. */
export type AppInterface = 'auto' | 'gateway' | 'node' | 'fetch';

export const INTERFACES: readonly AppInterface[] = ['auto', 'gateway', 'node', 'fetch'];

interface Koa { callback(): NodeListener }
interface Fastify { ready(): Promise<unknown>; routing: NodeListener }
interface FetchObject { fetch: FetchHandler }

/**
 * The gateway app (or holder) that serves `app`, which is of kind `kind`.
 * A Fastify instance is made ready first; its `routing` is its request listener.
 */
export async function servedApp(app: unknown, kind: AppInterface = 'auto', option = 'app'): Promise<GatewayApp | GatewayHolder> {
  if (!INTERFACES.includes(kind)) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'interface', `must be one of ${INTERFACES.join(', ')}, got ${String(kind)}`);
  }
  const seen = recognize(app);
  const as = kind === 'auto'
    ? seen.kind === 'holder' || seen.kind === 'unknown' ? 'gateway' : seen.kind
    : kind;
  switch (as) {
    case 'node':
    case 'koa':
    case 'fastify':
      if (seen.kind === 'koa') return fromNodeListener((app as Koa).callback());
      if (seen.kind === 'fastify') {
        await (app as Fastify).ready();
        return fromNodeListener((app as Fastify).routing);
      }
      if (typeof app !== 'function') break;
      return fromNodeListener(app as NodeListener);
    case 'fetch':
    case 'fetch-object':
      if (seen.kind === 'fetch-object') return fromFetchHandler((request, ...rest) => (app as FetchObject).fetch(request, ...rest));
      if (typeof app !== 'function') break;
      return fromFetchHandler(app as FetchHandler);
    case 'gateway':
      // Named, not guessed: a function taken for a node listener by its arity alone (methods still
      // tell Express and Connect apps) is taken at its word, behind a one-parameter wrapper.
      if (kind === 'gateway' && seen.kind === 'node' && typeof app === 'function' && !(APP_KIND in app)
        && typeof (app as { handle?: unknown }).handle !== 'function') {
        const named = app as GatewayApp;
        return (env) => named(env);
      }
      checkAppOrHolder(option, app);
      return app;
  }
  throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be ${kind === 'node' ? 'a node:http request listener, a Koa app or a Fastify instance'
    : 'a fetch handler or an object with a fetch method'} (interface is ${kind}), got ${seen.what}`);
}
