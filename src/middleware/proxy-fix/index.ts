/**
 * proxyFix: put back the client address, scheme, host, port and path prefix that reverse proxies
 * report in `X-Forwarded-*` or RFC 7239 `Forwarded` headers.
 *
 * Those headers are plain request headers: any client can send them, and most proxies append to
 * what the client sent rather than replacing it. So a value can only be believed if it was written
 * by a proxy in front of this app, and proxies write at the right end of each list. proxyFix counts
 * from the right, as many values per header as the deployment has proxies that set it — the same
 * counts as Werkzeug's `ProxyFix` — and leaves a field alone when its value does not parse.
 * Set a count higher than the real number of proxies and the client chooses the value; make the
 * app reachable without the proxy and the client chooses every value.
 *
 * With `trusted`, counts become upper bounds and addresses decide: nothing is read unless the socket
 * peer is trusted, and a value at depth d is read only when the d - 1 hops to its right are trusted
 * too. The walk stops at the first untrusted or invalid hop, so the client can never reach past it.
 *
 * The folder: options.ts checks the options once into settings (the defaults are one table there);
 * hops.ts reads both header families as one list of hops and walks the trusted ones; resolve.ts is
 * the per-field loop. This file is the factory and `explain`.
 */
import { FIXED, type GatewayApp, type GatewayEnv, type Middleware } from '../../gateway.js';
import { checkApp, isAppObject } from '../../app-kind.js';
import { writeChanges } from '../../fields.js';
import { TRACE, type ProxyFixTrace } from '../../trace.js';
import { PROXY_PROTOCOL, type ProxyProtocolRecord } from '../../net/proxy-protocol.js';
import { compileOptions, type ProxyFixOptions, type ProxyFixSettings } from './options.js';
import { decide, resolve, type Notice, type NoticeCode } from './resolve.js';

export type { ProxyFixOptions };

/**
 * Wrap a gateway app so that it sees the client address, scheme, host, port and prefix the
 * trusted proxies reported.
 *
 * Given only options, returns the middleware for `compose`, validated already.
 *
 * @example
 * app.gatewayApp = proxyFix(app.gatewayApp, { xProto: 1, xHost: 1 });
 * // Two proxies on the private network, walked by address rather than counted:
 * app.gatewayApp = proxyFix(app.gatewayApp, { xFor: Infinity, xProto: 1, trusted: ['private'] });
 * // In a stack:
 * compose(trustGate({ trusted: ['private'] }), proxyFix({ xFor: 2 }))(app);
 */
export function proxyFix(app: GatewayApp, options?: ProxyFixOptions): GatewayApp;
export function proxyFix(options: ProxyFixOptions): Middleware;
export function proxyFix(app: GatewayApp | ProxyFixOptions, options: ProxyFixOptions = {}): GatewayApp | Middleware {
  if (typeof app === 'object' && app !== null && !Array.isArray(app) && !isAppObject(app)) {
    const settings = compileOptions(app);
    return (inner: GatewayApp) => fixedApp(inner, settings);
  }
  return fixedApp(app as GatewayApp, compileOptions(options));
}

/**
 * What `proxyFix(app, options)` would do to `env`, without changing it.
 *
 * @example
 * const trace = explain(env, { xFor: 1, xProto: 1, xHost: 1 });
 * for (const f of trace.fields) console.log(f.header, f.outcome, f.detail);
 */
export function explain(env: GatewayEnv, options: ProxyFixOptions = {}): ProxyFixTrace & { proxyProtocol?: ProxyProtocolRecord } {
  const trace = resolve(compileOptions(options), env);
  // The walk's peer came from a PROXY protocol header: show it with the connection's real peer.
  const connection = env.ext[PROXY_PROTOCOL];
  return connection === undefined ? trace : { ...trace, proxyProtocol: connection };
}

/** A warning of each kind at most this often, per proxyFix. */
const WARNING_INTERVAL_MS = 60 * 60 * 1000;

function fixedApp(app: GatewayApp, settings: ProxyFixSettings): GatewayApp {
  checkApp(app);
  const { trace: keepTrace, warn } = settings;
  const lastWarned = new Map<NoticeCode, number>();
  const notice: Notice | undefined = warn && ((code, rule, peer) => {
    const now = Date.now();
    if (now - (lastWarned.get(code) ?? -Infinity) < WARNING_INTERVAL_MS) return;
    lastWarned.set(code, now);
    warn(code, code === 'PROXYFIX_UNTRUSTED_PEER'
      ? `proxyFix: a request from ${peer || 'a Unix socket'} carried ${rule.header}, but that peer is not in \`trusted\`, ` +
        'so nothing was taken from it. If it is your proxy, add it; if not, a client reached the app directly.'
      : `proxyFix: ${rule.option} is ${rule.count}, but a request's ${rule.header} had fewer values. Fewer proxies set it than ` +
        `${rule.option} says; if that is how the deployment is, lower ${rule.option}: a count above the real number lets clients choose the value.`);
  });
  // With the trace kept, each request takes the explaining path; otherwise the per-request one,
  // which decides the same (test/proxy-fix-decide.ts) and builds no trace.
  if (keepTrace) {
    return function proxyFixed(env: GatewayEnv) {
      const trace = resolve(settings, env, notice);
      if (env.ext[FIXED] !== true) {
        writeChanges(env, trace.changed);
        env.ext[FIXED] = true;
      }
      env.ext[TRACE] = trace;
      return app(env);
    };
  }
  return function proxyFixed(env: GatewayEnv) {
    const ext = env.ext;
    if (ext[FIXED] !== true) {
      const changes = decide(settings, env, notice);
      if (changes !== undefined) writeChanges(env, changes);
      ext[FIXED] = true;
    }
    return app(env);
  };
}
