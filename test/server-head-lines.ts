/**
 * A head of many lines through real proxies (THREATS 21). node keeps only the first 1,000 header
 * lines of a request and drops the rest without a word, and the proxies write their own forwarding
 * headers after the client's lines: Caddy sets X-Forwarded-*, HAProxy's `option forwardfor` adds a
 * second X-Forwarded-For line. A client that sends 1,100 lines of `A: ` (5.6 KB, far below any size
 * limit) must be refused with a 431, never seen as the proxy, nor as the address it forged.
 *
 * The clients come over IPv6 loopback and the proxies reach proxyfix over IPv4, so the client's
 * address (::1) and the proxy's (127.0.0.1) tell apart what the app was given.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import type { GatewayApp } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { startApp } from './fixtures/proxyfix-servers.js';
import { needProxy, startProxy } from './fixtures/real-proxies.js';
import { namedOptions, sample, type ProxyName } from './fixtures/sample-configs.js';
import { tempDir } from './fixtures/teardown.js';

t.setTimeout(180_000);

/** What the app saw of the requests that reached it. */
interface Seen { remoteAddr: string; scheme: string; host: string; scriptName: string }

/** The first options a sample's header names (`proxyFix(app, { xFor: 1, xProto: 1 })`); counts only. */
function sampleOptions(file: string): ProxyFixOptions {
  const named = namedOptions(sample(file))[0]!;
  return Object.fromEntries([...named.matchAll(/(\w+): (\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

/** One request over IPv6 loopback: `extra` header lines first, then `lines` lines of `A: `; the status line of the answer. */
function send(port: number, path: string, lines: number, extra: readonly string[] = []): Promise<string> {
  const head = [`GET ${path} HTTP/1.1`, `Host: example.com:${port}`, ...extra, ...Array.from({ length: lines }, () => 'A: '), 'Connection: close'];
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '::1', () => socket.write(`${head.join('\r\n')}\r\n\r\n`));
    let data = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
    socket.on('error', reject);
    socket.on('close', () => resolve(data.split('\r\n')[0]!));
  });
}

/** proxyfix behind `proxy` running `file` (or `text`): the app behind proxyFix with `options`, and what it saw. */
async function stack(t: Test, proxy: ProxyName, binary: string, file: string, options: ProxyFixOptions, text?: string) {
  const seen: Seen[] = [];
  const app: GatewayApp = (env) => {
    seen.push({ remoteAddr: env.remoteAddr, scheme: env.scheme, host: env.host, scriptName: env.scriptName });
    return { status: 200, body: 'seen' };
  };
  const dir = tempDir(t);
  const served = await startApp(t, proxyFix(app, options));
  const { slots } = await startProxy(t, proxy, binary, file, dir, { app: served.port, app2: 0 }, ['http'], text);
  return { seen, port: slots.http };
}

t.test('Caddy: 1,100 header lines are refused, never read without Caddy\'s X-Forwarded-*', async (t) => {
  const binary = await needProxy(t, 'caddy');
  if (binary === undefined) return;
  for (const [file, path] of [['caddy/basic.Caddyfile', '/p'], ['caddy/full.Caddyfile', '/p'], ['caddy/prefix.Caddyfile', '/app/p'],
    ['caddy/forwarded.Caddyfile', '/p']] as const) {
    await t.test(file, async (t) => {
      const { seen, port } = await stack(t, 'caddy', binary, file, sampleOptions(file));
      t.equal(await send(port, path, 100), 'HTTP/1.1 200 OK', '100 lines are served');
      t.equal(seen[0]?.remoteAddr, '::1', 'and the app sees the client');
      t.equal(await send(port, path, 1100), 'HTTP/1.1 431 Request Header Fields Too Large', '1,100 lines are refused');
      t.equal(seen.length, 1, 'the app never saw them');
    });
  }
});

t.test('HAProxy with option forwardfor: 1,100 header lines are refused, the forged address never taken', async (t) => {
  const binary = await needProxy(t, 'haproxy');
  if (binary === undefined) return;
  // option forwardfor adds its X-Forwarded-For line after the client's. HAProxy refuses more than
  // 101 header lines itself unless told otherwise (tune.http.maxhdr); a deployment that allows more
  // relies on proxyfix to read them all or refuse the request.
  const config = [
    'global',
    '    tune.http.maxhdr 2000',
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 60s',
    '    timeout server 60s',
    'frontend web',
    '    bind :80',
    '    bind [::]:80 v6only',
    '    option forwardfor',
    '    default_backend proxyfix',
    'backend proxyfix',
    '    server app 127.0.0.1:8000',
    '',
  ].join('\n');
  const { seen, port } = await stack(t, 'haproxy', binary, 'haproxy (option forwardfor, tune.http.maxhdr 2000)', { xFor: 1 }, config);
  const forged = ['X-Forwarded-For: 6.6.6.6'];
  t.equal(await send(port, '/p', 100, forged), 'HTTP/1.1 200 OK', '100 lines are served');
  t.equal(seen[0]?.remoteAddr, '::1', 'with HAProxy\'s line read, not the forged one');
  t.equal(await send(port, '/p', 1100, forged), 'HTTP/1.1 431 Request Header Fields Too Large', '1,100 lines are refused');
  t.same(seen.map((s) => s.remoteAddr), ['::1'], 'the app never saw them, nor 6.6.6.6');

  const { seen: sampleSeen, port: samplePort } = await stack(t, 'haproxy', binary, 'haproxy/basic.cfg', sampleOptions('haproxy/basic.cfg'));
  t.equal(await send(samplePort, '/p', 1100), 'HTTP/1.1 400 Bad request', 'haproxy/basic.cfg, with HAProxy\'s own bound, refuses them itself');
  t.same(sampleSeen, []);
});
