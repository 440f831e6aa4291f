/**
 * What kind of app a value is: a gateway app, a node:http request listener, a fetch handler, or a
 * framework object that holds one. Wrapping the wrong kind used to be accepted and then answered a
 * 500 to every request; now the mistake is refused where it is made, naming the adapter to use.
 *
 * A function cannot say which kind it is, so the decision uses what can be seen: the adapters tag
 * what they return; a gateway app takes one argument and a request listener two or three (Express
 * and Connect apps take `req, res, next`); the frameworks' own objects have telling methods.
 * A one-argument fetch handler looks like a gateway app here; when it returns a fetch `Response`,
 * the node adapter says so instead of a bare "not a response".
 */
import type { GatewayApp, GatewayHolder, Middleware } from './gateway.js';
import { configError, describe } from './options.js';

export type AppKind = 'gateway' | 'node' | 'fetch';

/** The property the adapters set on what they return, so that it is never taken for another kind. */
export const APP_KIND: unique symbol = Symbol.for('proxyfix.appKind');

/** Mark `fn` as being of `kind`; returns it. */
export function tagKind<F extends object>(fn: F, kind: AppKind): F {
  Object.defineProperty(fn, APP_KIND, { value: kind });
  return fn;
}

/** What a value looks like, and what to do with it when a gateway app was wanted. */
export interface Recognized {
  kind: AppKind | 'koa' | 'fastify' | 'fetch-object' | 'holder' | 'unknown';
  /** What it is, for messages: "an Express app". */
  what: string;
}

function has(value: unknown, ...methods: string[]): boolean {
  return methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}

export function recognize(value: unknown): Recognized {
  if (typeof value === 'function') {
    const tagged = (value as { [APP_KIND]?: AppKind })[APP_KIND];
    if (tagged !== undefined) {
      return { kind: tagged, what: tagged === 'node' ? 'a node:http request listener' : tagged === 'fetch' ? 'a fetch handler' : 'a gateway app' };
    }
    if (has(value, 'handle', 'set', 'get', 'use')) return { kind: 'node', what: 'an Express app' };
    if (has(value, 'handle', 'use')) return { kind: 'node', what: 'a Connect app' };
    if (value.length >= 2) return { kind: 'node', what: 'a node:http request listener (it takes req and res)' };
    return { kind: 'gateway', what: 'a gateway app' };
  }
  if (typeof value === 'object' && value !== null) {
    if (typeof (value as { gatewayApp?: unknown }).gatewayApp === 'function') return { kind: 'holder', what: 'a holder of a gateway app' };
    if (has(value, 'routing', 'ready', 'inject')) return { kind: 'fastify', what: 'a Fastify instance' };
    if (has(value, 'callback', 'use')) return { kind: 'koa', what: 'a Koa app' };
    if (has(value, 'fetch')) return { kind: 'fetch-object', what: 'an object with a fetch method (a Hono app?)' };
  }
  return { kind: 'unknown', what: describe(value) };
}

/**
 * Whether an object is an app of some kind rather than a factory's options: `proxyFix(honoApp)` must
 * say "wrap it", not "`fetch` is not a proxyFix option".
 */
export function isAppObject(value: unknown): boolean {
  return typeof value === 'object' && recognize(value).kind !== 'unknown';
}

/** The adapter to use for each kind that is not a gateway app, as the end of a sentence. */
const ADVICE: Record<Exclude<Recognized['kind'], 'gateway' | 'holder' | 'unknown'>, string> = {
  node: 'wrap it with fromNodeListener(listener), or use proxyFixNode(listener, options) from "proxyfix/node"',
  koa: 'pass app.callback() to fromNodeListener, or use proxyFixNode(app.callback(), options) from "proxyfix/node"',
  fastify: 'give Fastify a serverFactory that wraps its handler with proxyFixNode(handler, options) from "proxyfix/node"',
  'fetch-object': 'wrap its fetch with fromFetchHandler(app.fetch), or use proxyFixFetch(app.fetch, options) from "proxyfix/fetch"',
  fetch: 'wrap it with fromFetchHandler(handler), or use proxyFixFetch(handler, options) from "proxyfix/fetch"',
};

/**
 * Throw the configuration error for anything that is not a gateway app (nor, with `holders`, an
 * object with a `gatewayApp` function), naming the adapter that fits what was given.
 */
export function checkGatewayApp(option: string, value: unknown, holders = false): void {
  const seen = recognize(value);
  if (seen.kind === 'gateway' || (holders && seen.kind === 'holder')) return;
  const wanted = holders ? 'a gateway app (a function) or an object with a gatewayApp function' : 'a gateway app (a function)';
  if (seen.kind === 'holder') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
      `must be ${wanted}, got ${seen.what}: wrap the app it holds, holder.gatewayApp = proxyFix(holder.gatewayApp, options)`);
  }
  if (seen.kind === 'unknown') throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be ${wanted}, got ${seen.what}`);
  throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
    `must be ${wanted}, got ${seen.what}: ${ADVICE[seen.kind]}`);
}

/**
 * Throw unless `value` can be a node:http request listener: a function that is not one of the
 * adapters' gateway apps or fetch handlers. Framework objects get the line that turns them into one.
 */
export function checkNodeListener(option: string, value: unknown): void {
  const seen = recognize(value);
  if (typeof value === 'function' && (value as { [APP_KIND]?: AppKind })[APP_KIND] === undefined) return;
  if (seen.kind === 'node') return;
  const advice: Partial<Record<Recognized['kind'], string>> = {
    koa: 'pass app.callback(), which is one',
    fastify: 'give Fastify a serverFactory and wrap the handler it is given',
    'fetch-object': 'use fromFetchHandler(app.fetch) instead',
    fetch: 'use fromFetchHandler for a fetch handler',
    gateway: 'a gateway app needs no adapter: wrap it with the middlewares directly',
    holder: 'a gateway app needs no adapter: wrap its gatewayApp with the middlewares directly',
  };
  throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
    `must be a node:http request listener (req, res), got ${seen.what}${advice[seen.kind] ? `: ${advice[seen.kind]}` : ''}`);
}

/** The app of `appOrHolder` for this request: a holder's `gatewayApp` is read every time. */
export function appOf(appOrHolder: GatewayApp | GatewayHolder): GatewayApp {
  if (typeof appOrHolder === 'function') return appOrHolder;
  const app = appOrHolder.gatewayApp;
  const seen = recognize(app);
  if (seen.kind !== 'gateway') throw new TypeError(`the holder's gatewayApp is ${seen.what}, not a gateway app`);
  return app;
}

/** Throw the configuration error for anything that is neither a gateway app nor a holder of one. */
export function checkAppOrHolder(option: string, appOrHolder: unknown): asserts appOrHolder is GatewayApp | GatewayHolder {
  checkGatewayApp(option, appOrHolder, true);
}

/** Throw the error every factory throws for something that is not a gateway app. */
export function checkApp(app: unknown): asserts app is GatewayApp {
  checkGatewayApp('app', app);
}

/**
 * Dispatch a middleware factory's two call forms: `factory(app, options)` wraps an app at once, as
 * Werkzeug's middlewares do, and `factory(options)` returns a `Middleware` for `compose`. `build`
 * checks the options and returns the middleware; it runs once per call, so a curried middleware's
 * options are checked when it is written down, not when the stack is first applied.
 */
export function bothForms<Options>(
  build: (options: Options) => Middleware,
  appOrOptions: unknown,
  options: unknown,
): GatewayApp | Middleware {
  if (typeof appOrOptions === 'function') {
    checkApp(appOrOptions);
    return build(options as Options)(appOrOptions);
  }
  // `factory(notAnApp, options)` is a mistake, not the one-argument form; so is `factory(honoApp)`.
  if (options !== undefined || isAppObject(appOrOptions)) checkApp(appOrOptions);
  const middleware = build(appOrOptions as Options);
  return (app: GatewayApp) => {
    checkApp(app);
    return middleware(app);
  };
}
