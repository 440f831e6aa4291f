/**
 * The PROXY protocol samples end to end: real HAProxy 2.6 (`send-proxy-v2` with CRC32C and a
 * unique ID, and `send-proxy` for version 1) and real nginx `stream` with `proxy_protocol on`, in
 * front of the real proxyfix server started with the options each sample's header names, over IPv4
 * and IPv6; then the two-layer chain, an nginx edge writing X-Forwarded-* in front of HAProxy in TCP
 * mode in front of proxyfix. The app must see the client the balancer saw, and the balancer as the
 * socket peer. CI refuses to skip any of it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { GatewayApp } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { inspectApp, type Inspection } from '../src/server/inspect.js';
import { serve, type ServeOptions } from '../src/server/serve.js';
import { command } from './fixtures/command.js';
import { CLIENTS, forged, inspection, send, V4, type Client } from './fixtures/proxy-clients.js';
import { freePort, needProxy, ProxyProcess } from './fixtures/real-proxies.js';
import { render, sample, type ProxyName, type Slots } from './fixtures/sample-configs.js';
import { defer, tempDir } from './fixtures/teardown.js';

t.setTimeout(120_000);

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** The serve options and command line a sample's header names, checked against what is run here. */
function namedServe(t: Test, file: string, options: string, flags: string): string[] {
  const text = sample(file);
  t.ok(text.includes(`#   ${options}\n`), `${file} names ${options}`);
  t.ok(text.includes(`#   proxyfix serve ${flags} app.js:app\n`), `${file} names proxyfix serve ${flags}`);
  return flags.split(' ');
}

/** proxyfix serving the inspection app, or the command line the sample names; its log lines. */
async function startProxyfix(t: Test, how: { options: ServeOptions; fix?: ProxyFixOptions } | { flags: string[] }): Promise<{ port: number; log: string[] }> {
  const log: string[] = [];
  if ('flags' in how) {
    // The inspection app as the sample's app.js:app (--inspect would put a proxyFix of its own in front).
    const { server, error } = await command(t, ['serve', '--no-access-log', '-b', '127.0.0.1:0', ...how.flags, 'test/fixtures/inspect-app.ts:app']);
    t.equal(error, undefined, `proxyfix serve ${how.flags.join(' ')}`);
    return { port: Number(server!.addresses[0]!.split(':').pop()), log };
  }
  const app: GatewayApp = how.fix === undefined ? inspectApp() : proxyFix(inspectApp(), { ...how.fix, trace: true });
  const server = await serve(app, { bind: '127.0.0.1:0', accessLog: false, log: (line) => log.push(line), ...how.options });
  defer(t, () => {
    for (const s of server.servers) s.closeAllConnections();
    return server.close();
  });
  return { port: Number(server.addresses[0]!.split(':').pop()), log };
}

/** Write, check and start one proxy on `text`, rendered with `slots`; waits until `port` accepts. */
async function runProxy(t: Test, name: ProxyName, binary: string, text: string, slots: Slots, context: 'stream' | 'http' | 'haproxy', port: number): Promise<ProxyProcess> {
  const dir = join(slots.dir, `${name}-${context}`);
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const rendered = render(name, text, slots);
  let config: string;
  if (name === 'haproxy') {
    config = join(dir, 'haproxy.cfg');
    writeFileSync(config, rendered);
  } else {
    writeFileSync(join(dir, 'sample.conf'), rendered);
    config = join(dir, 'nginx.conf');
    writeFileSync(config, [
      context === 'stream' && existsSync(STREAM_MODULE) ? `load_module ${STREAM_MODULE};` : '',
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      'error_log stderr warn;',
      'events { worker_connections 256; }',
      // A stream block sits at the top level, as the sample says; an http snippet inside http{}.
      context === 'stream' ? `include ${join(dir, 'sample.conf')};` : [
        'http {',
        '    access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${join(dir, 'tmp', kind)};`),
        `    include ${join(dir, 'sample.conf')};`,
        '}',
      ].join('\n'),
      '',
    ].join('\n'));
  }
  const check = spawnSync(binary, name === 'haproxy' ? ['-c', '-f', config] : ['-t', '-p', dir, '-c', config, '-e', 'stderr'], { encoding: 'utf8' });
  const checked = `${check.stdout}${check.stderr}`;
  t.equal(check.status, 0, `${name} accepts it`, { checked });
  t.notMatch(checked, name === 'haproxy' ? /\[(WARNING|ALERT)\]/ : /\[(warn|emerg|alert|crit)\]/, `${name} accepts it without a warning`);
  const proxy = new ProxyProcess(binary, name === 'haproxy' ? ['-f', config, '-db'] : ['-p', dir, '-c', config, '-e', 'stderr', '-g', 'daemon off;'], process.env);
  defer(t, () => proxy.stop());
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!proxy.running) throw new Error(`${name} exited:\n${proxy.output}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return proxy;
    if (Date.now() > deadline) throw new Error(`${name} does not listen on ${port}:\n${proxy.output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function slotsFor(t: Test, app: number): Promise<Slots> {
  return { dir: tempDir(t), http: await freePort(), https: await freePort(), inner: await freePort(), app, app2: 0 };
}

/** A request from `client` through the balancer; the app must see the client, and the balancer as the socket peer. */
async function throughBalancer(t: Test, client: Client, port: number, version: 1 | 2): Promise<Inspection> {
  const answer = await send(client, port, { headers: forged('http') });
  const seen = inspection(t, answer);
  t.strictSame([seen.after.remoteAddr, seen.after.remotePort], [client.address, String(answer.localPort)], `${client.label}: the client and its port`);
  t.match(seen.proxyProtocol, { socketPeer: { address: '127.0.0.1' }, header: { version, command: 'PROXY', family: client.address.includes(':') ? 'inet6' : 'inet' } },
    `${client.label}: the balancer is the socket peer`);
  t.equal(seen.verdict[0], `The connection came from 127.0.0.1, whose PROXY protocol v${version} header names the client ${client.address}: proxyFix starts from it.`);
  return seen;
}

t.test('haproxy/proxy-protocol.cfg: send-proxy-v2 with CRC32C and a unique ID; send-proxy for version 1', async (t) => {
  const binary = await needProxy(t, 'haproxy');
  if (binary === undefined) return;
  const file = 'haproxy/proxy-protocol.cfg';
  const flags = namedServe(t, file, "serve(app, { proxyProtocol: { trusted: ['127.0.0.1'] } })", '--proxy-protocol --proxy-protocol-trusted 127.0.0.1');
  for (const [label, how] of [['serve()', { options: { proxyProtocol: { trusted: ['127.0.0.1'] } } }], ['the command line', { flags }]] as const) {
    await t.test(label, async (t) => {
      const proxyfix = await startProxyfix(t, how);
      const slots = await slotsFor(t, proxyfix.port);
      const haproxy = await runProxy(t, 'haproxy', binary, sample(file), slots, 'haproxy', slots.http);
      for (const client of CLIENTS) {
        const seen = await throughBalancer(t, client, slots.http, 2);
        t.equal(seen.proxyProtocol?.header.tlvs.crc32c, true, 'the CRC32C HAProxy sent checks out');
        t.match(Buffer.from(seen.proxyProtocol?.header.tlvs.uniqueId ?? '', 'hex').toString(), /^[0-9A-F]+:[0-9A-F]+_/, 'the unique ID, as unique-id-format writes it');
      }
      t.notMatch(proxyfix.log.join('\n'), /refused/, 'no connection refused');
      t.notMatch(haproxy.output, /DOWN/, 'HAProxy finds the server up');
    });
  }
  await t.test('health checks: HAProxy sends a header on them too, and none is refused', async (t) => {
    // A short timeout, so that a check without a whole header would be refused while we wait.
    const proxyfix = await startProxyfix(t, { options: { proxyProtocol: { trusted: ['127.0.0.1'], timeout: 200 } } });
    const slots = await slotsFor(t, proxyfix.port);
    const haproxy = await runProxy(t, 'haproxy', binary, sample(file), slots, 'haproxy', slots.http);
    // `check` probes every 2 s.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    t.notMatch(proxyfix.log.join('\n'), /refused/, 'no check refused');
    t.notMatch(haproxy.output, /DOWN/, 'HAProxy finds the server up');
    await throughBalancer(t, V4, slots.http, 2);
  });
  await t.test('send-proxy: version 1', async (t) => {
    const proxyfix = await startProxyfix(t, { options: { proxyProtocol: { trusted: ['127.0.0.1'], versions: [1] } } });
    const slots = await slotsFor(t, proxyfix.port);
    const text = sample(file).replace(/send-proxy-v2 proxy-v2-options \S+/, 'send-proxy');
    t.match(text, /server app 127\.0\.0\.1:8000 send-proxy check$/m);
    await runProxy(t, 'haproxy', binary, text, slots, 'haproxy', slots.http);
    for (const client of CLIENTS) await throughBalancer(t, client, slots.http, 1);
    t.notMatch(proxyfix.log.join('\n'), /refused/);
  });
  await t.test('proxyfix refuses the balancer when it is not in proxyProtocol.trusted', async (t) => {
    const proxyfix = await startProxyfix(t, { options: { proxyProtocol: { trusted: ['127.0.0.9'] } } });
    const slots = await slotsFor(t, proxyfix.port);
    await runProxy(t, 'haproxy', binary, sample(file), slots, 'haproxy', slots.http);
    await t.rejects(send(V4, slots.http), 'the client\'s connection is closed without an answer');
    t.match(proxyfix.log.join('\n'), /refused a connection on 127\.0\.0\.1:0: a PROXY protocol header from a peer not in proxyProtocol\.trusted, from 127\.0\.0\.1/);
  });
});

t.test('nginx/proxy-protocol.conf: the stream module with proxy_protocol on', async (t) => {
  const binary = await needProxy(t, 'nginx');
  if (binary === undefined) return;
  const built = spawnSync(binary, ['-V'], { encoding: 'utf8' }).stderr;
  if (!existsSync(STREAM_MODULE) && !/--with-stream(?!=dynamic)/.test(built)) {
    const missing = 'the nginx stream module is missing: apt-get install libnginx-mod-stream';
    if (process.env.CI) t.fail(`CI must run the stream sample, but ${missing}`);
    else t.plan(0, missing);
    return;
  }
  const file = 'nginx/proxy-protocol.conf';
  const flags = namedServe(t, file, "serve(app, { proxyProtocol: { trusted: ['127.0.0.1'] } })", '--proxy-protocol --proxy-protocol-trusted 127.0.0.1');
  for (const [label, how] of [['serve()', { options: { proxyProtocol: { trusted: ['127.0.0.1'] } } }], ['the command line', { flags }]] as const) {
    await t.test(label, async (t) => {
      const proxyfix = await startProxyfix(t, how);
      const slots = await slotsFor(t, proxyfix.port);
      await runProxy(t, 'nginx', binary, sample(file), slots, 'stream', slots.http);
      for (const client of CLIENTS) await throughBalancer(t, client, slots.http, 1);
      t.notMatch(proxyfix.log.join('\n'), /refused/);
    });
  }
});

t.test('the two-layer chain: nginx/proxy-protocol-edge.conf -> haproxy/proxy-protocol-chain.cfg -> proxyfix', async (t) => {
  const nginx = await needProxy(t, 'nginx');
  const haproxy = nginx && await needProxy(t, 'haproxy');
  if (nginx === undefined || haproxy === undefined) return;
  const options = "serve(proxyFix(app, { xFor: 1, xProto: 1, trusted: ['127.0.0.1'] }), { proxyProtocol: { trusted: ['127.0.0.1'] } })";
  const cli = '--x-for 1 --x-proto 1 --trusted 127.0.0.1 --proxy-protocol --proxy-protocol-trusted 127.0.0.1';
  namedServe(t, 'haproxy/proxy-protocol-chain.cfg', options, cli);
  const flags = namedServe(t, 'nginx/proxy-protocol-edge.conf', options, cli);
  const ways = [
    ['serve()', { options: { proxyProtocol: { trusted: ['127.0.0.1'] } }, fix: { xFor: 1, xProto: 1, trusted: ['127.0.0.1'] } }],
    ['the command line', { flags }],
  ] as const;
  for (const [label, how] of ways) {
    await t.test(label, async (t) => {
      const proxyfix = await startProxyfix(t, how);
      const slots = await slotsFor(t, proxyfix.port);
      await runProxy(t, 'haproxy', haproxy, sample('haproxy/proxy-protocol-chain.cfg'), slots, 'haproxy', slots.inner);
      await runProxy(t, 'nginx', nginx, sample('nginx/proxy-protocol-edge.conf'), slots, 'http', slots.http);
      for (const client of CLIENTS) {
        const seen = inspection(t, await send(client, slots.http, { headers: forged('http') }));
        t.equal(seen.after.remoteAddr, client.address, `${client.label}: the client, from the edge's X-Forwarded-For`);
        t.equal(seen.before.remoteAddr, '127.0.0.1', `${client.label}: the balancer's header named the edge`);
        t.match(seen.proxyProtocol, { socketPeer: { address: '127.0.0.1' }, header: { version: 2 } });
        t.equal(seen.after.scheme, 'http');
        t.notMatch(JSON.stringify(seen.after), /6\.6\.6\.6|evil|6666/, 'nothing forged');
      }
      // A client that reaches the balancer directly, forging X-Forwarded-For: the balancer names it,
      // proxyFix does not trust it, and its header is ignored.
      const direct = inspection(t, await send(V4, slots.inner, { headers: { 'X-Forwarded-For': '6.6.6.6' } }));
      t.equal(direct.after.remoteAddr, V4.address, 'a client behind no edge: its own address, its X-Forwarded-For ignored');
      t.notMatch(proxyfix.log.join('\n'), /refused/);
    });
  }
});
