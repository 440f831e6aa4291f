/**
 * Stacking middlewares so that a stack reads top-down, in the order requests pass through it:
 *
 *     compose(trustGate({ trusted }), proxyFix({ xHost: 1, trusted }), allowedHosts(['example.com']))(app)
 *
 * Nesting calls by hand reads inside-out (`trustGate(proxyFix(allowedHosts(app, …), …), …)`), which is
 * exactly where a stack ends up in the wrong order: a host allow-list that runs before the fixer
 * checks the proxy's host instead of the one the app will see. The first middleware listed is the
 * outermost, so it sees the request first.
 */
import type { GatewayApp, Middleware } from '../gateway.js';
import { checkApp } from '../app-kind.js';
import { configError, describe } from '../options.js';

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
      throw configError('ERR_PROXYFIX_OPTION_TYPE', `middlewares[${i}]`,
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
        throw configError('ERR_PROXYFIX_OPTION_TYPE', `middlewares[${i}]`,
          `must return a gateway app (a function), returned ${describe(wrapped)}`);
      }
    }
    return wrapped;
  };
}
