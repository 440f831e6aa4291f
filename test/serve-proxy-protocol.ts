/**
 * serve({ proxyProtocol }) over real sockets, with headers written by hand: what the app sees for
 * each family and command, keep-alive and pipelining after a header, headers split across packets,
 * and every refused input closing its connection with nothing reaching the app while the server
 * keeps serving. Peers: 127.0.0.1 is the trusted balancer, 127.0.0.2 an untrusted client.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayApp, GatewayEnv } from '../src/gateway.js';
import { isConfigError } from '../src/options.js';
import { explain, proxyFix } from '../src/middleware/proxy-fix/index.js';
import { inspectApp, type Inspection } from '../src/server/inspect.js';
import { PROXY_PROTOCOL } from '../src/server/proxy-protocol.js';
import { serve, type RunningServer, type ServeOptions } from '../src/server/serve.js';
import { Running, cli } from './fixtures/child.js';
import { command } from './fixtures/command.js';
import { sleep } from './fixtures/http-client.js';
import { inet, inet6, ssl, tlv, unix, v1, v2 } from './fixtures/proxy-headers.js';

t.setTimeout(60_000);

interface Seen { remoteAddr: string; remotePort: string; path: string; body: string; ext: unknown }

interface Started { server: RunningServer; port: number; path: string | undefined; seen: Seen[]; log: string[]; access: string[] }

/** The app records what it saw and echoes the client address. */
function recorder(seen: Seen[]): GatewayApp {
  return async (env: GatewayEnv) => {
    // Recorded on arrival, in the order the requests came.
    const record = { remoteAddr: env.remoteAddr, remotePort: env.remotePort, path: env.pathInfo, body: '', ext: env.ext[PROXY_PROTOCOL] };
    seen.push(record);
    for await (const chunk of env.body) record.body += Buffer.from(chunk).toString();
    return { status: 200, body: `${env.remoteAddr} ${env.remotePort} ${env.pathInfo}\n` };
  };
}

async function start(t: Test, options: ServeOptions = {}, wrap: (app: GatewayApp) => GatewayApp = (app) => app): Promise<Started> {
  const seen: Seen[] = [];
  const log: string[] = [];
  const access: string[] = [];
  const server = await serve(wrap(recorder(seen)), {
    bind: '127.0.0.1:0', log: (line) => log.push(line), accessLog: (line) => access.push(line),
    ...options, proxyProtocol: { trusted: ['127.0.0.1'], ...options.proxyProtocol },
  });
  t.teardown(() => {
    for (const s of server.servers) s.closeAllConnections();
    return server.close();
  });
  const address = server.addresses[0]!;
  return {
    server, seen, log, access,
    port: address.startsWith('unix:') ? 0 : Number(address.split(':').pop()),
    path: address.startsWith('unix:') ? address.slice(5) : undefined,
  };
}

interface Exchange { data: string; closed: boolean }

/** Connect (from `from`), send the chunks with `gapMs` between them, collect until the server closes or `waitMs` passes. */
function exchange(to: Started, chunks: (Buffer | string)[], { from = '127.0.0.1', gapMs = 0, waitMs = 2000, host = '127.0.0.1' } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = to.path !== undefined ? net.connect(to.path) : net.connect({ port: to.port, host, localAddress: from });
    let data = '';
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0 && gapMs > 0) await sleep(gapMs);
        if (socket.destroyed) return;
        socket.write(chunk);
      }
    });
  });
}

const GET = (path = '/', close = true) => `GET ${path} HTTP/1.1\r\nHost: app\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
const V1_CLIENT = v1('TCP4 203.0.113.7 10.0.0.1 51234 443');

/** Status lines of every answer on a connection. */
function statuses(data: string): string[] {
  return data.match(/HTTP\/1\.1 \d{3} [^\r]*/g) ?? [];
}

async function stillServes(t: Test, to: Started, what: string, header: Buffer = V1_CLIENT): Promise<void> {
  const after = await exchange(to, [header, GET('/after')]);
  t.same(statuses(after.data), ['HTTP/1.1 200 OK'], `${what}: the server keeps serving`);
}

t.test('options are checked, each error naming the option', async (t) => {
  const cases: [unknown, string, string][] = [
    [true, '`proxyProtocol` must be an object with `trusted`, got true', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{}, '`proxyProtocol.trusted` is required: a PROXY protocol header says who the client is, so only the balancers listed may send one', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: [] }, '`proxyProtocol.trusted` must list at least one balancer: an empty list would refuse every header', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted: ' , ' }, '`proxyProtocol.trusted` must list at least one balancer: an empty list would refuse every header', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted: 5 }, '`proxyProtocol.trusted` must be a list of addresses, CIDR ranges and named ranges, or a function; got 5', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: ['10.0.0.0/33'] }, '`proxyProtocol.trusted[0]` "10.0.0.0/33" has a mask that is neither a prefix length from 0 to 32 nor a contiguous netmask', 'ERR_PROXYFIX_TRUST_ENTRY'],
    [{ trusted: ['0.0.0.0/0'] }, '`proxyProtocol.trusted[0]` "0.0.0.0/0" makes the list trust every IPv4 address', 'ERR_PROXYFIX_TRUST_ENTRY'],
    [{ trusted: 'loopback', versions: [3] }, '`proxyProtocol.versions` must be [1], [2] or [1, 2], got [3]', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted: 'loopback', versions: [] }, '`proxyProtocol.versions` must be [1], [2] or [1, 2], got []', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted: 'loopback', versions: [2, 2] }, '`proxyProtocol.versions` must be [1], [2] or [1, 2], got [2,2]', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted: 'loopback', versions: 2 }, '`proxyProtocol.versions` must be [1], [2] or [1, 2], got 2', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: 'loopback', timeout: 0 }, '`proxyProtocol.timeout` must be from 1 to 2147483647 (milliseconds), got 0', 'ERR_PROXYFIX_OPTION_RANGE'],
    [{ trusted: 'loopback', timeout: '5' }, '`proxyProtocol.timeout` must be an integer (milliseconds), got "5"', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: 'loopback', trustUnixSocket: 'yes' }, '`proxyProtocol.trustUnixSocket` must be a boolean, got "yes"', 'ERR_PROXYFIX_OPTION_TYPE'],
    [{ trusted: 'loopback', timout: 5 }, '`timout` is not a proxyProtocol option', 'ERR_PROXYFIX_OPTION_TYPE'],
  ];
  for (const [proxyProtocol, message, code] of cases) {
    const error = await serve(() => ({ status: 200 }), { bind: '127.0.0.1:0', proxyProtocol } as ServeOptions).then(() => undefined, (e: unknown) => e);
    t.ok(isConfigError(error), message);
    t.match(error, { code }, message);
    t.ok((error as Error).message.startsWith(message), (error as Error).message);
  }
});

t.test('version 1: the header\'s client for every request on a keep-alive connection, a body and pipelining in its packet', async (t) => {
  const to = await start(t);
  const out = await exchange(to, [
    Buffer.concat([V1_CLIENT, Buffer.from('POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhello' + GET('/b', false))]),
    GET('/c', false),
    // The header is read once: a second one is a request line, and a bad one.
    `${V1_CLIENT.toString()}${GET('/d')}`,
  ], { gapMs: 50 });
  t.same(statuses(out.data), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request']);
  t.same(to.seen.map((s) => [s.remoteAddr, s.remotePort, s.path, s.body]), [
    ['203.0.113.7', '51234', '/a', 'hello'], ['203.0.113.7', '51234', '/b', ''], ['203.0.113.7', '51234', '/c', ''],
  ]);
  t.same(to.seen[0]!.ext, {
    socketPeer: { address: '127.0.0.1', port: to.seen[0]!.ext && (to.seen[0]!.ext as { socketPeer: { port: string } }).socketPeer.port },
    client: { address: '203.0.113.7', port: '51234' },
    header: { version: 1, command: 'PROXY', family: 'inet', transport: 'stream', source: { address: '203.0.113.7', port: 51234 },
      destination: { address: '10.0.0.1', port: 443 }, tlvs: {} },
  });
  t.match((to.seen[0]!.ext as { socketPeer: { port: string } }).socketPeer.port, /^\d+$/);
  t.equal(to.seen[0]!.ext, to.seen[2]!.ext, 'one record per connection');
  t.ok(Object.isFrozen(to.seen[0]!.ext) && Object.isFrozen((to.seen[0]!.ext as { header: object }).header), 'frozen: requests share it');
  t.match(to.access[0], /^203\.0\.113\.7 /, 'the access log has the header\'s client');
  t.match(to.access.at(-1), /^203\.0\.113\.7 .* 400 /, 'and so has the line of a request refused on the connection');
});

t.test('version 2: families, commands and TLVs', async (t) => {
  const to = await start(t);
  const cases: [string, Buffer, string, string][] = [
    ['IPv4', v2(), '203.0.113.7', '51234'],
    ['IPv6', v2({ family: 0x21, addresses: inet6('2001:db8:0:0:0:0:0:7', '0:0:0:0:0:0:0:1', 4711, 443) }), '2001:db8::7', '4711'],
    ['IPv4-mapped IPv6', v2({ family: 0x21, addresses: inet6('0:0:0:0:0:ffff:cb00:7107', '0:0:0:0:0:0:0:1', 1, 2) }), '::ffff:203.0.113.7', '1'],
    ['a Unix socket client of the balancer: unknown, not one of this server\'s own Unix socket peers', v2({ family: 0x31, addresses: unix('/run/c.sock', '/run/lb.sock') }), 'unknown', ''],
    ['LOCAL keeps the socket peer', v2({ command: 0x20, family: 0x00, addresses: Buffer.alloc(0) }), '127.0.0.1', 'socket'],
    ['AF_UNSPEC keeps the socket peer', v2({ family: 0x00, addresses: Buffer.alloc(0) }), '127.0.0.1', 'socket'],
    ['version 1 UNKNOWN keeps the socket peer', v1('UNKNOWN'), '127.0.0.1', 'socket'],
  ];
  for (const [name, header, address, port] of cases) {
    const out = await exchange(to, [header, GET('/')]);
    t.same(statuses(out.data), ['HTTP/1.1 200 OK'], name);
    const seen = to.seen.at(-1)!;
    t.equal(seen.remoteAddr, address, name);
    if (port === 'socket') t.not(seen.remotePort, '', name);
    else t.equal(seen.remotePort, port, name);
  }
  await exchange(to, [v2({
    crc: true,
    tlvs: [tlv(0x01, 'h2'), tlv(0x02, 'example.com'), tlv(0x05, 'id'), ssl(1, 0, [tlv(0x21, 'TLSv1.3')]), tlv(0x30, 'ns'),
      tlv(0xea, Buffer.from('\x01vpce-0123456789abcdef0'))],
  }), GET('/')]);
  t.same((to.seen.at(-1)!.ext as { header: { tlvs: object } }).header.tlvs, {
    alpn: 'h2', authority: 'example.com', uniqueId: '6964', netns: 'ns', awsVpceId: 'vpce-0123456789abcdef0', crc32c: true,
    ssl: { ssl: true, certInConnection: false, certInSession: false, verified: true, version: 'TLSv1.3' },
  });
});

t.test('a header split across packets', async (t) => {
  const to = await start(t);
  const header = v2({ family: 0x21, addresses: inet6('2001:db8:0:0:0:0:0:7', '0:0:0:0:0:0:0:1', 1, 2), tlvs: [tlv(0x02, 'example.com')] });
  const pieces = [header.subarray(0, 1), header.subarray(1, 13), header.subarray(13, 17), header.subarray(17, 40), header.subarray(40), GET('/split')];
  const out = await exchange(to, pieces, { gapMs: 20 });
  t.same(statuses(out.data), ['HTTP/1.1 200 OK']);
  t.equal(to.seen.at(-1)!.remoteAddr, '2001:db8::7');
  const text = V1_CLIENT.toString();
  const out1 = await exchange(to, [text.slice(0, 3), text.slice(3, 20), text.slice(20, -1), `${text.slice(-1)}${GET('/split1')}`], { gapMs: 20 });
  t.same(statuses(out1.data), ['HTTP/1.1 200 OK'], 'version 1, the LF alone in the last piece');
  t.same(to.seen.map((s) => s.path), ['/split', '/split1']);
});

t.test('refused inputs close the connection, reach no app, and the server keeps serving', async (t) => {
  const to = await start(t, { proxyProtocol: { trusted: ['127.0.0.1'], versions: [1, 2] } });
  const cases: Record<string, (Buffer | string)[]> = {
    'no header from a trusted peer': [GET('/no-header')],
    'a v1 header with two spaces': [`PROXY TCP4  203.0.113.7 10.0.0.1 1 2\r\n${GET('/x')}`],
    'a v1 header ending in a bare LF': [`PROXY TCP4 203.0.113.7 10.0.0.1 1 2\n${GET('/x')}`],
    'a v1 header with a CR inside': [`PROXY TCP4 203.0.113.7\r10.0.0.1 1 2\r\n${GET('/x')}`],
    'a v1 header with an overlong address': [`PROXY TCP6 ${'1:'.repeat(50)}1 ::1 1 2\r\n${GET('/x')}`],
    'a v1 header with a bad port': [`PROXY TCP4 203.0.113.7 10.0.0.1 99999 2\r\n${GET('/x')}`],
    'a v1 header without CRLF in 107 bytes': [`PROXY UNKNOWN ${'x'.repeat(100)}${GET('/x')}`],
    'a v2 header with a wrong version': [v2({ command: 0x11 }), GET('/x')],
    'a v2 header with a short length': [v2({ length: 4 }), GET('/x')],
    'a v2 header with an oversized length': [Buffer.concat([v2().subarray(0, 14), Buffer.from([0xff, 0xff])])],
    'a v2 header with a TLV overrun': [v2({ tlvs: [Buffer.from([0x02, 0x00, 0x40, 0x61])] })],
    'a v2 header with a wrong CRC32C': [v2({ wrongCrc: true }), GET('/x')],
    'a v2 header for UDP': [v2({ family: 0x12 }), GET('/x')],
    'a v2 header with a wrong signature': [Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIX\n'), v2().subarray(12)]), GET('/x')],
  };
  for (const [name, chunks] of Object.entries(cases)) {
    const out = await exchange(to, chunks);
    t.same(out, { data: '', closed: true }, `${name}: closed without an answer`);
    t.equal(to.seen.length, 0, `${name}: nothing reached the app`);
  }
  const refusals = () => to.log.filter((line) => line.includes('refused'));
  t.equal(refusals().length, 1, 'the first refusal is logged; the rest are counted');
  t.match(refusals()[0], /^\[proxyfix \d+\] refused a connection on 127\.0\.0\.1:0: no PROXY protocol header from a trusted peer, from 127\.0\.0\.1$/);
  await stillServes(t, to, 'after them all');
  await to.server.close();
  t.match(to.log.at(-1), new RegExp(`refused ${Object.keys(cases).length - 1} more connection\\(s\\) on 127\\.0\\.0\\.1:0 in the last [\\d.]+ s: ` +
    'a malformed PROXY protocol header \\(12\\); no PROXY protocol header from a trusted peer \\(1\\)$'), 'counted by kind, logged at shutdown');
});

t.test('refusals of one kind are counted in one line at shutdown', async (t) => {
  const to = await start(t);
  for (let i = 0; i < 3; i++) t.same(await exchange(to, [GET('/')]), { data: '', closed: true });
  await to.server.close();
  t.match(to.log.at(-1), /refused 2 more connection\(s\) on 127\.0\.0\.1:0 in the last [\d.]+ s: no PROXY protocol header from a trusted peer$/);
});

t.test('each kind of refusal, as logged', async (t) => {
  const kinds: [string, ServeOptions['proxyProtocol'], (Buffer | string)[], RegExp, string?][] = [
    ['malformed', undefined, [v2({ command: 0x22 })], /: a malformed PROXY protocol header \(version 2: a command other than LOCAL or PROXY\), from 127\.0\.0\.1$/],
    ['UDP', undefined, [v2({ family: 0x22, addresses: inet6('1:0:0:0:0:0:0:1', '1:0:0:0:0:0:0:1', 1, 1) })],
      /: a malformed PROXY protocol header \(a UDP flow's header: HTTP runs over a stream\), from 127\.0\.0\.1$/],
    ['a version not accepted', { trusted: ['127.0.0.1'], versions: [2] }, [V1_CLIENT, GET()],
      /: a malformed PROXY protocol header \(a version 1 header, but only version 2 is accepted\), from 127\.0\.0\.1$/],
    ['untrusted', undefined, [V1_CLIENT, GET()], /: a PROXY protocol header from a peer not in proxyProtocol\.trusted, from 127\.0\.0\.2$/, '127.0.0.2'],
    ['untrusted v2 in pieces', undefined, [v2().subarray(0, 3), v2().subarray(3)], /: a PROXY protocol header from a peer not in proxyProtocol\.trusted, from 127\.0\.0\.2$/, '127.0.0.2'],
    ['late', { trusted: ['127.0.0.1'], timeout: 100 }, [V1_CLIENT.subarray(0, 10)], /: no whole PROXY protocol header within proxyProtocol\.timeout \(100 ms\), from 127\.0\.0\.1$/],
    ['silent', { trusted: ['127.0.0.1'], timeout: 100 }, [], /: no request within proxyProtocol\.timeout \(100 ms\), from 127\.0\.0\.2$/, '127.0.0.2'],
  ];
  for (const [name, proxyProtocol, chunks, line, from] of kinds) {
    const to = await start(t, proxyProtocol === undefined ? {} : { proxyProtocol });
    const started = Date.now();
    const out = await exchange(to, chunks, { from, gapMs: 20 });
    t.same(out, { data: '', closed: true }, name);
    t.equal(to.seen.length, 0, `${name}: nothing reached the app`);
    t.match(to.log.at(-1), line, name);
    if (name === 'late' || name === 'silent') t.ok(Date.now() - started >= 90, 'closed at the timeout, not before');
    await stillServes(t, to, name, v2());
  }
});

t.test('a peer that is not trusted speaks plain HTTP, and its first bytes may look like a signature for a while', async (t) => {
  const to = await start(t);
  const plain = await exchange(to, ['P', 'UT /put HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'], { from: '127.0.0.2', gapMs: 30 });
  t.same(statuses(plain.data), ['HTTP/1.1 200 OK']);
  const crlf = await exchange(to, ['\r\n\r\n', GET('/crlf')], { from: '127.0.0.2', gapMs: 30 });
  t.same(statuses(crlf.data), ['HTTP/1.1 200 OK'], 'empty lines before a request (RFC 9112 2.2), a prefix of the v2 signature');
  t.same(to.seen.map((s) => [s.remoteAddr, s.path, s.ext]), [['127.0.0.2', '/put', undefined], ['127.0.0.2', '/crlf', undefined]]);
});

t.test('the header\'s client is where proxyFix\'s trust walk starts', async (t) => {
  // A CDN in front of the balancer writes X-Forwarded-For; the balancer names the CDN's address.
  const to = await start(t, {}, (app) => proxyFix(app, { xFor: 1, trusted: ['198.51.100.0/24'], warnings: false }));
  const xff = (from: string) => `GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: ${from}\r\nConnection: close\r\n\r\n`;
  await exchange(to, [v1('TCP4 198.51.100.9 10.0.0.1 1 443'), xff('203.0.113.7')]);
  await exchange(to, [v1('TCP4 192.0.2.66 10.0.0.1 1 443'), xff('203.0.113.7')]);
  t.same(to.seen.map((s) => s.remoteAddr), ['203.0.113.7', '192.0.2.66'], 'a trusted CDN is believed; a client reaching the balancer directly is not');
});

t.test('IPv6 listener and peer', async (t) => {
  const to = await start(t, { bind: '[::1]:0', proxyProtocol: { trusted: 'loopback' } });
  const out = await exchange(to, [v1('TCP6 2001:db8::7 ::1 4711 443'), GET('/')], { host: '::1', from: '::1' });
  t.same(statuses(out.data), ['HTTP/1.1 200 OK']);
  t.match(to.seen[0], { remoteAddr: '2001:db8::7', remotePort: '4711', ext: { socketPeer: { address: '::1' } } });
});

t.test('a Unix socket listener: its peer sends a header only with trustUnixSocket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-pp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const trusting = await start(t, { bind: `unix:${join(dir, 'a.sock')}`, proxyProtocol: { trusted: ['127.0.0.1'], trustUnixSocket: true } });
  const out = await exchange(trusting, [V1_CLIENT, GET('/')]);
  t.same(statuses(out.data), ['HTTP/1.1 200 OK']);
  t.match(trusting.seen[0], { remoteAddr: '203.0.113.7', ext: { socketPeer: { address: '', port: '' } } });
  const not = await start(t, { bind: `unix:${join(dir, 'b.sock')}` });
  t.same(await exchange(not, [V1_CLIENT, GET('/')]), { data: '', closed: true });
  t.match(not.log.at(-1), /from a Unix socket$/);
});

t.test('a peer that resets before it is accepted is dropped without a word (not taken for a Unix socket peer)', async (t) => {
  const to = await start(t);
  // This process's event loop is blocked while a child connects, sends a header and resets, as a
  // balancer's health check may: node accepts the connection afterwards, with no peer address left.
  const script = `const s = require('net').connect(${to.port}, '127.0.0.1', () => { s.write('PROXY UNKNOWN\\r\\n'); s.resetAndDestroy(); });` +
    "s.on('error', () => {}); s.on('close', () => process.exit(0));";
  t.equal(spawnSync(process.execPath, ['-e', script]).status, 0);
  await sleep(100);
  t.notMatch(to.log.join('\n'), /refused/);
  await stillServes(t, to, 'after a reset');
});

t.test('a peer that resets while its header is awaited is dropped without a word', async (t) => {
  const to = await start(t);
  const socket = net.connect({ port: to.port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(V1_CLIENT.subarray(0, 10));
  await sleep(50);
  socket.resetAndDestroy();
  await sleep(50);
  t.notMatch(to.log.join('\n'), /refused/);
  t.equal(to.server.servers[0]!.listenerCount('connection'), 2, 'node\'s listener replaced, serve\'s kept');
  await stillServes(t, to, 'after a reset');
});

t.test('a peer that ends its side early: nothing sent is a health check, part of a header is refused', async (t) => {
  const to = await start(t, { proxyProtocol: { trusted: ['127.0.0.1'], timeout: 5000 } });
  const endAfter = (chunks: (Buffer | string)[], from = '127.0.0.1') => new Promise<number>((resolve) => {
    const started = Date.now();
    const socket = net.connect({ port: to.port, host: '127.0.0.1', localAddress: from }, () => {
      for (const chunk of chunks) socket.write(chunk);
      socket.end();
    });
    socket.resume();
    socket.on('close', () => resolve(Date.now() - started));
  });
  t.ok(await endAfter([]) < 1000, 'a connect-only check from the balancer is closed at once');
  t.ok(await endAfter(['P'], '127.0.0.2') < 1000, 'so is a peer not trusted that stops after a letter');
  t.notMatch(to.log.join('\n'), /refused/, 'and neither is logged');
  t.ok(await endAfter([V1_CLIENT.subarray(0, 12)]) < 1000, 'part of a header, then the end: closed at once');
  t.match(to.log.at(-1), /: a malformed PROXY protocol header \(the connection ended inside it\), from 127\.0\.0\.1$/);
  await stillServes(t, to, 'after them');
});

t.test('shutdown closes connections still waiting for their header at once', async (t) => {
  const to = await start(t, { proxyProtocol: { trusted: ['127.0.0.1'], timeout: 30_000 } });
  const waiting = exchange(to, [V1_CLIENT.subarray(0, 12)], { waitMs: 10_000 });
  const silent = exchange(to, [], { waitMs: 10_000 });
  await sleep(100);
  const started = Date.now();
  await to.server.close();
  t.same(await waiting, { data: '', closed: true }, 'part of a header');
  t.same(await silent, { data: '', closed: true }, 'nothing yet');
  t.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
});

t.test('shutdown closes a connection that sent its header and no request yet at once, as one that sent nothing', async (t) => {
  const to = await start(t, { drainTimeout: 10_000 });
  const idle = exchange(to, [V1_CLIENT], { waitMs: 12_000 });
  await sleep(100);
  const started = Date.now();
  await to.server.close();
  t.same(await idle, { data: '', closed: true });
  t.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
  t.notMatch(to.log.join('\n'), /drainTimeout/, 'not by the drain timeout');
});

t.test('a Unix socket client of the balancer is not trusted as a Unix socket peer of this server', async (t) => {
  const to = await start(t, {}, (app) => proxyFix(app, { xFor: 1, trusted: ['192.0.2.1'], trustUnixSocket: true }));
  await exchange(to, [v2({ family: 0x31, addresses: unix('/run/c.sock', '/run/lb.sock') }), 'GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n']);
  t.equal(to.seen.at(-1)!.remoteAddr, 'unknown', 'the forged X-Forwarded-For is not taken');
});

t.test('a peer not trusted waits for its first bytes no longer than headersTimeout', async (t) => {
  const to = await start(t, { headersTimeout: 150, requestTimeout: 1000, proxyProtocol: { trusted: ['127.0.0.1'], timeout: 5000 } });
  const started = Date.now();
  t.same(await exchange(to, [], { from: '127.0.0.2', waitMs: 3000 }), { data: '', closed: true });
  t.ok(Date.now() - started < 1000, `closed after ${Date.now() - started} ms`);
  t.match(to.log.at(-1), /: no request within headersTimeout \(150 ms\), from 127\.0\.0\.2$/);
});

t.test('headersTimeout starts after the header', async (t) => {
  const to = await start(t, { headersTimeout: 300, requestTimeout: 1000 });
  const out = await exchange(to, [V1_CLIENT, 'GET / HTTP/1.1\r\n'], { waitMs: 3000 });
  t.equal(statuses(out.data)[0], 'HTTP/1.1 408 Request Timeout', 'a request too slow after its header gets node\'s 408');
  t.match(to.access.at(-1), /^203\.0\.113\.7 .* 408 /);
});

/** The body of the one answer in a raw exchange. */
function body(data: string): string {
  return data.slice(data.indexOf('\r\n\r\n') + 4);
}

t.test('the inspection app and explain show the real socket peer and the header', async (t) => {
  const to = await start(t, {}, () => proxyFix(inspectApp(), { xFor: 1, trusted: ['198.51.100.0/24'], trace: true, warnings: false }));
  const inspect = async (header: Buffer, accept = 'application/json') => {
    const out = await exchange(to, [header, `GET / HTTP/1.1\r\nHost: app\r\nAccept: ${accept}\r\nConnection: close\r\n\r\n`]);
    return body(out.data);
  };
  const seen = JSON.parse(await inspect(v2({ tlvs: [tlv(0x02, 'example.com')] }))) as Inspection;
  t.equal(seen.verdict[0], 'The connection came from 127.0.0.1, whose PROXY protocol v2 header names the client 203.0.113.7: proxyFix starts from it.');
  t.equal(seen.before.remoteAddr, '203.0.113.7');
  t.match(seen.proxyProtocol, { socketPeer: { address: '127.0.0.1' }, client: { address: '203.0.113.7', port: '51234' }, header: { tlvs: { authority: 'example.com' } } });
  t.equal(seen.trace?.peer, '203.0.113.7', 'the trace\'s peer is the header\'s client');
  const sentences: [Buffer, string][] = [
    [v2({ command: 0x20, family: 0x00, addresses: Buffer.alloc(0) }),
      'The connection came from 127.0.0.1, whose PROXY protocol v2 header says LOCAL (the balancer\'s own connection, a health check): the client address is the socket peer.'],
    [v1('UNKNOWN'), 'The connection came from 127.0.0.1, whose PROXY protocol v1 header names no client (family unknown): the client address is the socket peer.'],
    [v2({ family: 0x31, addresses: unix('/run/c.sock', '/run/lb.sock') }),
      'The connection came from 127.0.0.1, whose PROXY protocol v2 header names the client as a Unix socket peer of the balancer (no address): proxyFix starts from it.'],
  ];
  for (const [header, sentence] of sentences) t.equal((JSON.parse(await inspect(header)) as Inspection).verdict[0], sentence);
  const html = await inspect(v2({ tlvs: [ssl(1, 0, [tlv(0x21, 'TLSv1.3')])] }), 'text/html');
  t.match(html, '<h2>PROXY protocol</h2>');
  t.match(html, '<tr><td>header.tlvs.ssl.version</td><td>TLSv1.3</td></tr>');
  t.match(html, '<tr><td>socketPeer.address</td><td>127.0.0.1</td></tr>');
  const plain = await start(t, {}, () => inspectApp());
  const direct = await exchange(plain, [GET('/')], { from: '127.0.0.2' });
  t.equal((JSON.parse(body(direct.data)) as Inspection).proxyProtocol, null, 'null without a header');
  const page = await exchange(plain, ['GET / HTTP/1.1\r\nHost: app\r\nAccept: text/html\r\nConnection: close\r\n\r\n'], { from: '127.0.0.2' });
  t.match(page.data, '<h2>Request headers');
  t.notMatch(page.data, 'PROXY protocol', 'and no such section on the page');

  const explained = await start(t, {}, () => (env) => ({ status: 200, body: JSON.stringify(explain(env, { xFor: 1 })) }));
  const withHeader = JSON.parse(body((await exchange(explained, [V1_CLIENT, GET('/')])).data)) as ReturnType<typeof explain>;
  t.match(withHeader, { peer: '203.0.113.7', proxyProtocol: { socketPeer: { address: '127.0.0.1' }, header: { version: 1 } } });
  const without = JSON.parse(body((await exchange(explained, [GET('/')], { from: '127.0.0.2' })).data)) as ReturnType<typeof explain>;
  t.equal(without.peer, '127.0.0.2');
  t.notOk('proxyProtocol' in without, 'explain adds nothing without a header');
});

t.test('the command line: --proxy-protocol and its options', async (t) => {
  const { server, error } = await command(t, ['serve', '--inspect', '--no-access-log', '-b', '127.0.0.1:0', '--proxy-protocol',
    '--proxy-protocol-trusted', '10.0.0.0/8, 127.0.0.1', '--proxy-protocol-timeout', '0.2']);
  t.equal(error, undefined);
  const to = { port: Number(server!.addresses[0]!.split(':').pop()), path: undefined } as Started;
  const out = await exchange(to, [V1_CLIENT, GET('/')]);
  t.equal((JSON.parse(body(out.data)) as Inspection).after.remoteAddr, '203.0.113.7');
  const started = Date.now();
  t.same(await exchange(to, ['PROXY ']), { data: '', closed: true }, '--proxy-protocol-timeout');
  t.ok(Date.now() - started < 1500);

  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-pp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fromEnv = await command(t, ['serve', '--inspect', '--no-access-log', '-b', `unix:${join(dir, 's.sock')}`],
    { PROXYFIX_PROXY_PROTOCOL: '1', PROXYFIX_PROXY_PROTOCOL_TRUSTED: '127.0.0.1', PROXYFIX_PROXY_PROTOCOL_TRUST_UNIX_SOCKET: '1' });
  t.equal(fromEnv.error, undefined);
  const viaUnix = { port: 0, path: fromEnv.server!.addresses[0]!.slice(5) } as Started;
  t.equal((JSON.parse(body((await exchange(viaUnix, [V1_CLIENT, GET('/')])).data)) as Inspection).after.remoteAddr, '203.0.113.7',
    'from the environment, a Unix socket peer trusted');

  const errors: [string[], RegExp][] = [
    [['--proxy-protocol'], /^--proxy-protocol needs --proxy-protocol-trusted: the load balancers that may send the header$/],
    [['--proxy-protocol-trusted', '127.0.0.1'], /^--proxy-protocol-trusted, --proxy-protocol-trust-unix-socket and --proxy-protocol-timeout apply to --proxy-protocol$/],
    [['--proxy-protocol', '--proxy-protocol-trusted', '0.0.0.0/0'], /^`proxyProtocol\.trusted\[0\]` "0\.0\.0\.0\/0" makes the list trust every IPv4 address/],
  ];
  for (const [flags, message] of errors) {
    const outcome = await command(t, ['serve', '--inspect', '-b', '127.0.0.1:0', ...flags]);
    t.match(outcome.error, { exitCode: 2, message }, flags.join(' '));
  }
  const help = await command(t, ['--help']);
  for (const flag of ['--proxy-protocol ', '--proxy-protocol-trusted LIST', '--proxy-protocol-trust-unix-socket', '--proxy-protocol-timeout S', 'PROXYFIX_PROXY_PROTOCOL_TRUSTED']) {
    t.match(help.stdout, flag, `--help names ${flag}`);
  }
});

t.test('workers read the header too', async (t) => {
  const child = new Running(cli, ['serve', '--inspect', '--no-access-log', '-w', '1', '-b', '127.0.0.1:0', '--proxy-protocol', '--proxy-protocol-trusted', 'loopback']);
  t.teardown(() => child.kill('SIGKILL'));
  await child.waitFor(/with 1 worker\(s\)/);
  const to = { port: await child.port(), path: undefined } as Started;
  t.equal((JSON.parse(body((await exchange(to, [v2(), GET('/')])).data)) as Inspection).after.remoteAddr, '203.0.113.7');
  t.same(await exchange(to, [GET('/')]), { data: '', closed: true }, 'and refuse a trusted peer without one');
  child.kill('SIGTERM');
  t.equal((await child.exited).code, 0);
});
