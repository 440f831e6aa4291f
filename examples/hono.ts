/**
 * Hono 4 on @hono/node-server behind one nginx on the same machine.
 *
 * Any client can send X-Forwarded-For, -Proto and -Host. Behind nginx, a fetch handler sees
 * nginx's address and an `http://` URL with the upstream host; a handler that reads the headers
 * itself takes whatever a client forged. This assumes one nginx on this machine that sets
 * X-Forwarded-For $remote_addr, X-Forwarded-Proto $scheme and X-Forwarded-Host $host (replacing
 * what the client sent), and this server on 127.0.0.1 only, so that nginx is the only way in.
 *
 * The lines you add: the `proxyfix/fetch` import, and `proxyFixFetch(app.fetch, options)` as the
 * `fetch` given to serve(). Hono's own getConnInfo(c) then reports the client's address, and
 * c.req.url the URL the client asked for.
 *
 * Run: npm run example -- hono
 */
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { proxyFixFetch } from 'proxyfix/fetch';

const app = new Hono();
app.get('/', (c) => c.json({ address: getConnInfo(c).remote.address, url: c.req.url }));

const port = Number(process.env.PORT ?? 3000);
serve({
  // One hop of each header, and only from a peer on loopback (nginx): `trusted` is what makes a
  // request that reached this port some other way unable to pose as nginx.
  fetch: proxyFixFetch(app.fetch, { xFor: 1, xProto: 1, xHost: 1, trusted: ['loopback'] }),
  port,
  hostname: '127.0.0.1',
}, () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
