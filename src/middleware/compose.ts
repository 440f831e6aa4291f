/**
 * Stacking middlewares so that a stack reads top-down, in the order requests pass through it:
 *
 *     compose(trustGate({ trusted }), proxyFix({ xHost: 1, trusted }), allowedHosts(['example.com']))(app)
 *
 * Nesting calls by hand reads inside-out (`trustGate(proxyFix(allowedHosts(app, …), …), …)`), which is
 * exactly where a stack ends up in the wrong order: a host allow-list that runs before the fixer
 * checks the proxy's host instead of the one the app will see. The first middleware listed is the
 * outermost, so it sees the request first.
 *
 * The factories in this folder take two forms: `factory(app, options)` wraps an app at once, as
 * Werkzeug's middlewares do, and `factory(options)` checks the options at once and returns a
 * `Middleware` for `compose`. Both forms build the same thing.
 */
import type { GatewayApp, Middleware } from '../gateway.js';
import { checkGatewayApp, isAppObject } from '../app-kind.js';
import { configError, describe } from '../errors.js';

export type { Middleware };

/**
 * Stack middlewares; the first listed runs first (it is the outermost).
 * `compose()` with none gives the app back unchanged.
 *
 * @example
 * app.gatewayApp = compose(
 *   trustGate({ trusted: ['10.0.0.0/8'] }),
 *   proxyFix({ xProto: 1, xHost: 1, trusted: ['10.0.0.0/8'] }),
 *   allowedHosts(['example.com', '*.example.com']),
 * )(app.gatewayApp);
 */
export function compose(...middlewares: Middleware[]): Middleware {
  middlewares.forEach((middleware, i) => {
    if (typeof middleware !== 'function') {
      throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', `middlewares[${i}]`,
        `must be a middleware (a function from app to app, such as \`trustGate({ … })\`), got ${describe(middleware)}`);
    }
  });
  // A copy, so that changing the caller's array afterwards cannot change a built stack.
  const stack = [...middlewares];
  return function composed(app: GatewayApp): GatewayApp {
    checkApp(app);
    let wrapped = app;
    for (let i = stack.length - 1; i >= 0; i--) {
      wrapped = stack[i]!(wrapped);
      if (typeof wrapped !== 'function') {
        // The mistake this catches: a two-argument factory given without its options, or a
        // middleware that returns a response instead of an app.
        throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', `middlewares[${i}]`,
          `must return a gateway app (a function), returned ${describe(wrapped)}`);
      }
    }
    return wrapped;
  };
}

/** Throw the error every factory throws for something that is not a gateway app. */
export function checkApp(app: unknown): asserts app is GatewayApp {
  checkGatewayApp('app', app);
}

/**
 * Dispatch a factory's two call forms. `build` checks the options and returns the middleware; it
 * runs once per call, so a curried middleware's options are checked when it is written down, not
 * when the stack is first applied.
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

/** Throw for an options value that is not a plain object, or that has a key `known` lacks. */
export function checkOptions(options: unknown, known: ReadonlySet<string>, factory: string): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', 'options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', key, `is not a ${factory} option`);
  }
}

/** Throw unless `value` is a boolean or absent. */
export function checkBoolean(option: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw configError(TypeError, 'ERR_PROXYFIX_OPTION_TYPE', option, `must be a boolean, got ${describe(value)}`);
  }
}
