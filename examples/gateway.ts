/**
 * A gateway app (proxyfix's own interface, like a WSGI app) behind one nginx on the same machine,
 * served by proxyfix's built-in server.
 *
 * Any client can send X-Forwarded-For, -Proto and -Host. Behind nginx, the env holds nginx's
 * address, `http` and the upstream host. This assumes one nginx on this machine that sets
 * X-Forwarded-For $remote_addr, X-Forwarded-Proto $scheme and X-Forwarded-Host $host (replacing
 * what the client sent), and this server on 127.0.0.1 only, so that nginx is the only way in.
 *
 * The line you add: `proxyFix(app, options)` in place of `app`, as Werkzeug's
 * `app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)`.
 * `serve` prints the `listening on` line itself, and an access log line per request.
 *
 * Run: npm run example -- gateway
 */
import { proxyFix, type GatewayApp } from 'proxyfix';
import { serve } from 'proxyfix/server';

const app: GatewayApp = (env) => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ remoteAddr: env.remoteAddr, scheme: env.scheme, host: env.host }),
});

const port = Number(process.env.PORT ?? 3000);
// One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
// request that reached this port some other way unable to pose as nginx.
await serve(proxyFix(app, { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] }), { bind: `127.0.0.1:${port}` });
