/**
 * The upgrade adapter (WebSockets) against a real node:http server, a real `ws` server and a real
 * `ws` client: what a WebSocket app's 'connection' handler reads after proxyFixUpgrade, refusals
 * written on the raw socket, errors, and the mistakes refused when the adapter is built.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import express from 'express';
import { fromUpgradeListener, proxyFixUpgrade, toNodeListener, toUpgradeListener, UPGRADE, type UpgradeListener } from '../src/node.js';
import { createEnv, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../src/gateway.js';
import { allowedHosts } from '../src/middleware/allowed-hosts.js';
import { compose } from '../src/middleware/compose.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { certificate } from './fixtures/certificates.js';
import { tempDir } from './fixtures/teardown.js';
import { request } from './fixtures/http-client.js';
import { converse, isRefusal, webSocketStack, type ClientOptions, type Seen } from './fixtures/websocket.js';

const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix'];

interface Case {
  name: string;
  options: ProxyFixOptions;
  headers?: Record<string, string>;
  /** The client's own address (the socket peer the server sees). */
  localAddress?: string;
  /** What the 'connection' handler must see; `host` may use PORT for the server's port. */
  expect: Partial<Seen>;
}

const ALL = { xFor: 1, xProto: 1, xHost: 1 };

t.test('proxyFixUpgrade: what the ws connection handler sees', async (t) => {
  const cases: Case[] = [
    { name: 'no forwarding headers: the socket\'s own values', options: ALL,
      expect: { remoteAddress: '127.0.0.1', remoteFamily: 'IPv4', host: '127.0.0.1:PORT', scheme: 'ws', encrypted: undefined } },
    { name: 'X-Forwarded-For names the client', options: ALL, headers: { 'X-Forwarded-For': '203.0.113.7' },
      expect: { remoteAddress: '203.0.113.7', remoteFamily: 'IPv4', host: '127.0.0.1:PORT', scheme: 'ws' } },
    { name: 'an IPv6 client', options: ALL, headers: { 'X-Forwarded-For': '2001:db8::7' },
      expect: { remoteAddress: '2001:db8::7', remoteFamily: 'IPv6' } },
    { name: 'forwarded http gives ws, and the forwarded host', options: ALL,
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'example.com' },
      expect: { remoteAddress: '203.0.113.7', host: 'example.com', scheme: 'ws', encrypted: undefined } },
    { name: 'forwarded https gives wss, and the socket reads as encrypted', options: ALL,
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com' },
      expect: { remoteAddress: '203.0.113.7', host: 'example.com', scheme: 'wss', encrypted: true } },
    { name: 'forged leftmost values are never used', options: ALL,
      headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', 'X-Forwarded-Proto': 'http, https', 'X-Forwarded-Host': 'evil.example, example.com' },
      expect: { remoteAddress: '203.0.113.7', host: 'example.com', scheme: 'wss' } },
    { name: 'a host only in Host, no X-Forwarded-Host', options: ALL, headers: { Host: 'chat.example:8443', 'X-Forwarded-Proto': 'https' },
      expect: { remoteAddress: '127.0.0.1', host: 'chat.example:8443', scheme: 'wss' } },
    { name: 'two trusted hops: xFor 2 walks past a trusted proxy, not further',
      options: { xFor: 2, xProto: 1, trusted: ['loopback'] }, headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7, 127.0.0.5' },
      expect: { remoteAddress: '203.0.113.7', scheme: 'ws' } },
    { name: 'an untrusted peer: the socket\'s own values, whatever it sends',
      options: { ...ALL, trusted: ['10.0.0.0/8'], warnings: false },
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' },
      expect: { remoteAddress: '127.0.0.1', host: '127.0.0.1:PORT', scheme: 'ws', encrypted: undefined } },
    { name: 'a peer other than the trusted proxy: its own address', options: { ...ALL, trusted: ['127.0.0.1'], warnings: false }, localAddress: '127.0.0.2',
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https' },
      expect: { remoteAddress: '127.0.0.2', scheme: 'ws' } },
    { name: 'the trusted proxy itself, from the same kind of list', options: { ...ALL, trusted: ['127.0.0.1'] },
      headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https' },
      expect: { remoteAddress: '203.0.113.7', scheme: 'wss' } },
  ];
  for (const c of cases) {
    const stack = await webSocketStack(t, (handler) => proxyFixUpgrade(handler, c.options));
    const options: ClientOptions = { headers: c.headers ?? {}, ...(c.localAddress ? { localAddress: c.localAddress } : {}) };
    const answer = await converse(`ws://127.0.0.1:${stack.port}/chat`, options, `ping ${c.name}`);
    if (isRefusal(answer)) {
      t.fail(`${c.name}: refused with ${answer.status}`, { body: answer.body });
      continue;
    }
    t.strictSame(answer, { greeting: 'hello', reply: `echo:ping ${c.name}` }, `${c.name}: messages go both ways`);
    const seen = stack.app.seen[0]!;
    const expected = { ...c.expect, ...(c.expect.host ? { host: c.expect.host.replace('PORT', String(stack.port)) } : {}) };
    t.strictSame(Object.fromEntries(Object.keys(expected).map((k) => [k, seen[k as keyof Seen]])), expected, c.name);
    t.strictSame(FORWARDING.filter((name) => name in seen.headers), [], `${c.name}: no forwarding header left for the app to re-read`);
    t.equal(seen.headers.upgrade, 'websocket', `${c.name}: the upgrade headers are intact`);
  }
});

t.test('over TLS: wss without a proxy; a TLS hop that forwards http gives ws', async (t) => {
  const dir = tempDir(t);
  const ca = certificate(dir);
  const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: ca };
  const cases: { name: string; headers: Record<string, string>; expect: Partial<Seen> }[] = [
    { name: 'no forwarding headers: wss, encrypted', headers: {}, expect: { scheme: 'wss', encrypted: true, remoteAddress: '127.0.0.1' } },
    { name: 'X-Forwarded-Proto http: ws, not encrypted', headers: { 'X-Forwarded-Proto': 'http', 'X-Forwarded-For': '203.0.113.7' },
      expect: { scheme: 'ws', encrypted: undefined, remoteAddress: '203.0.113.7' } },
  ];
  for (const c of cases) {
    const stack = await webSocketStack(t, (handler) => proxyFixUpgrade(handler, ALL), tls);
    const answer = await converse(`wss://127.0.0.1:${stack.port}/`, { ca, headers: c.headers });
    t.strictSame(answer, { greeting: 'hello', reply: 'echo:ping' }, `${c.name}: messages go both ways`);
    const seen = stack.app.seen[0]!;
    t.strictSame({ scheme: seen.scheme, encrypted: seen.encrypted, remoteAddress: seen.remoteAddress }, c.expect, c.name);
  }
});

t.test('a middleware that refuses the upgrade: a plain HTTP answer, the socket closed, no upgrade', async (t) => {
  const guarded = (handler: UpgradeListener) =>
    toUpgradeListener(compose(proxyFix(ALL), allowedHosts(['example.com']))(fromUpgradeListener(handler)));
  const cases: { name: string; headers: Record<string, string>; refused: boolean }[] = [
    { name: 'the forwarded host is allowed', headers: { 'X-Forwarded-Host': 'example.com' }, refused: false },
    { name: 'the forwarded host is not allowed', headers: { 'X-Forwarded-Host': 'evil.example' }, refused: true },
    { name: 'a forged leftmost allowed host does not help', headers: { 'X-Forwarded-Host': 'example.com, evil.example' }, refused: true },
    { name: 'Host alone, not allowed', headers: { Host: 'evil.example' }, refused: true },
    { name: 'Host alone, allowed', headers: { Host: 'example.com' }, refused: false },
  ];
  for (const c of cases) {
    const stack = await webSocketStack(t, guarded);
    const answer = await converse(`ws://127.0.0.1:${stack.port}/`, { headers: c.headers });
    if (!c.refused) {
      t.strictSame(answer, { greeting: 'hello', reply: 'echo:ping' }, `${c.name}: upgraded`);
      t.equal(stack.app.upgrades, 1, `${c.name}: the upgrade handler ran`);
      continue;
    }
    if (!isRefusal(answer)) {
      t.fail(`${c.name}: upgraded`);
      continue;
    }
    t.match(answer, { status: 400, headers: { connection: 'close', 'content-type': 'text/plain; charset=utf-8' },
      body: /this server does not answer for the requested host/ }, `${c.name}: the middleware's response`);
    await answer.closed;
    t.pass(`${c.name}: the connection closed`);
    t.equal(stack.app.upgrades, 0, `${c.name}: the upgrade handler was never called`);
    t.equal(stack.app.seen.length, 0, `${c.name}: no connection`);
  }
});

/** Send a raw upgrade request and collect everything until the server closes. */
function rawUpgrade(port: number, extra = ''): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('error', () => {});
    socket.on('close', () => resolve(data));
    socket.write(`GET /chat HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`);
  });
}

/** A node:http server whose upgrades go to `listener`; closed when the test ends. */
async function upgradeServer(t: Test, listener: UpgradeListener): Promise<number> {
  const server = http.createServer();
  server.on('upgrade', listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

async function* chunks(...parts: (string | Error)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    if (part instanceof Error) throw part;
    yield Buffer.from(part);
  }
}

const HEAD_500 = 'HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

t.test('toUpgradeListener: responses written on the raw socket, and errors', async (t) => {
  interface RawCase {
    name: string;
    app: GatewayApp;
    /** Everything the client receives before the server closes. */
    expect: string;
    /** What onError must get (a pattern for the error), or nothing. */
    error?: RegExp | { code: string };
  }
  const failure = new Error('body failed');
  const cases: RawCase[] = [
    { name: 'a string body: its length, one Connection: close, repeated lines',
      app: () => ({ status: 403, headers: { 'X-Reason': 'no', connection: 'keep-alive', 'Set-Cookie': ['a=1', 'b=2'] }, body: 'forbidden' }),
      expect: 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nX-Reason: no\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 9\r\n\r\nforbidden' },
    { name: 'a byte body', app: () => ({ status: 400, body: new Uint8Array([104, 105]) }),
      expect: 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi' },
    { name: 'a streamed body, ended by closing', app: () => ({ status: 426, headers: { Upgrade: 'websocket' }, body: chunks('a', 'b') }),
      expect: 'HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nUpgrade: websocket\r\n\r\nab' },
    { name: 'no body', app: () => ({ status: 404 }), expect: 'HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n' },
    { name: 'a status without a reason phrase', app: () => ({ status: 499 }), expect: 'HTTP/1.1 499 \r\nConnection: close\r\n\r\n' },
    { name: 'the app throws: a 500 on the raw socket', app: () => { throw new Error('app failed'); }, expect: HEAD_500, error: /app failed/ },
    { name: 'the app returns no response', app: (() => undefined) as unknown as GatewayApp, expect: HEAD_500,
      error: /the app returned undefined, not a response/ },
    { name: 'a header name node would refuse', app: () => ({ status: 403, headers: { 'Bad Name': 'x' } }), expect: HEAD_500,
      error: { code: 'ERR_INVALID_HTTP_TOKEN' } },
    { name: 'a header value that would inject a line', app: () => ({ status: 403, headers: { 'X-A': 'a\r\nInjected: 1' } }), expect: HEAD_500,
      error: { code: 'ERR_INVALID_CHAR' } },
    { name: 'a body that fails once its head is out: cut, no 500 inside it',
      app: () => ({ status: 403, body: chunks('partial', failure) }), expect: 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\npartial',
      error: /body failed/ },
    { name: 'the app closed the socket and threw: nothing more is written',
      app: (env) => {
        env.ext[UPGRADE]!.socket.destroy();
        throw new Error('after closing');
      },
      expect: '', error: /after closing/ },
  ];
  for (const c of cases) {
    const errors: { error: unknown; env: GatewayEnv }[] = [];
    const port = await upgradeServer(t, toUpgradeListener(c.app, { onError: (error, env) => errors.push({ error, env }) }));
    t.equal(await rawUpgrade(port), c.expect, c.name);
    if (c.error === undefined) {
      t.strictSame(errors, [], `${c.name}: no error`);
    } else {
      t.equal(errors.length, 1, `${c.name}: onError once`);
      t.match(errors[0]?.error, c.error instanceof RegExp ? { message: c.error } : c.error, `${c.name}: onError gets the error`);
      t.match(errors[0]?.env, { scheme: 'ws', host: 'example.com', pathInfo: '/chat' }, `${c.name}: and the env`);
    }
  }
});

t.test('a client that resets while the app runs does not take the server down', async (t) => {
  const errors: unknown[] = [];
  let started!: () => void;
  const running = new Promise<void>((resolve) => { started = resolve; });
  const port = await upgradeServer(t, toUpgradeListener(async (env): Promise<GatewayResponse> => {
    const { socket } = env.ext[UPGRADE]!;
    if (env.pathInfo === '/slow') {
      const closed = new Promise((resolve) => socket.once('close', resolve));
      started();
      await closed;
      return { status: 400, body: 'too late' };
    }
    return { status: 403, body: 'still here' };
  }, { onError: (error) => errors.push(error) }));

  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  client.write('GET /slow HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await running;
  client.resetAndDestroy();
  // The app resolves only once the server has seen the reset; then it answers into a closed socket.
  const after = await rawUpgrade(port);
  t.match(after, /^HTTP\/1\.1 403 Forbidden\r\n[^]*still here$/, 'the next upgrade is answered');
  t.strictSame(errors, [], 'a client going away is not an app error');
});

/** Send `head` on a new connection; resolves with the response head, then closes. */
function responseHead(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(data.split('\r\n\r\n')[0]!));
    socket.write(head);
  });
}

t.test('two Host lines: a 400 and no upgrade, as toNodeListener answers a plain request (RFC 9112 3.2)', async (t) => {
  const stack = await webSocketStack(t, (handler) => proxyFixUpgrade(handler, ALL));
  const head = await responseHead(stack.port, 'GET / HTTP/1.1\r\nHost: example.com\r\nHost: evil.example\r\n' +
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  t.equal(head.split('\r\n')[0], 'HTTP/1.1 400 Bad Request', 'refused');
  t.equal(stack.app.upgrades, 0, 'the upgrade handler never saw the request');
});

t.test('toUpgradeListener: without onError, errors go to stderr', async (t) => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof process.stderr.write;
  t.teardown(() => { process.stderr.write = write; });
  const port = await upgradeServer(t, toUpgradeListener((env) => {
    if (env.pathInfo === '/chat') throw new Error('to stderr');
    return { status: 204 };
  }));
  t.equal(await rawUpgrade(port), HEAD_500);
  const port2 = await upgradeServer(t, toUpgradeListener(() => { throw 'a thrown string'; }));
  t.equal(await rawUpgrade(port2), HEAD_500);
  process.stderr.write = write;
  t.match(written.join(''), /Error: to stderr\n\s+at /);
  t.match(written.join(''), /a thrown string\n/);
});

t.test('fromUpgradeListener serves upgrade requests only', async (t) => {
  const handler: UpgradeListener = () => t.fail('the handler must not run');
  const app = fromUpgradeListener(handler);
  const message = /^fromUpgradeListener serves upgrade requests only: give it to toUpgradeListener \(or use proxyFixUpgrade\)/;
  t.throws(() => app(createEnv({})), { name: 'TypeError', message }, 'an env with no upgrade in it');

  const errors: unknown[] = [];
  const server = http.createServer(toNodeListener(proxyFix(app, ALL), { onError: (error) => errors.push(error) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const answer = await request({ port: (server.address() as net.AddressInfo).port }, { path: '/' });
  t.equal(answer.status, 500, 'served as a plain request listener: a 500');
  t.match(errors, [{ name: 'TypeError', message }], 'and the error says how to use it');

  for (const bad of [undefined, 'ws', {}]) {
    t.throws(() => fromUpgradeListener(bad as unknown as UpgradeListener), {
      name: 'TypeError', message: /^`listener` must be an upgrade listener \(req, socket, head\), got /,
    }, `fromUpgradeListener(${String(bad)})`);
  }
});

t.test('toUpgradeListener refuses what is not a gateway app, naming the adapter', async (t) => {
  const upgradeAdvice = /wrap an upgrade listener with fromUpgradeListener\(listener\), or use proxyFixUpgrade\(listener, options\)/;
  const cases: { name: string; value: unknown; message: RegExp }[] = [
    { name: 'an upgrade listener', value: (_req: unknown, _socket: unknown, _head: unknown) => {}, message: upgradeAdvice },
    { name: 'an Express app', value: express(), message: upgradeAdvice },
    { name: 'a request listener from toNodeListener', value: toNodeListener(() => ({ status: 204 })), message: upgradeAdvice },
    { name: 'an object with a fetch method', value: { fetch: () => new Response() }, message: /fromFetchHandler\(app\.fetch\)/ },
    { name: 'a holder', value: { gatewayApp: () => ({ status: 204 }) }, message: /must be a gateway app \(a function\), got a holder/ },
    { name: 'a string', value: 'app.js:app', message: /must be a gateway app \(a function\), got "app\.js:app"/ },
  ];
  for (const c of cases) {
    t.throws(() => toUpgradeListener(c.value as GatewayApp), {
      name: 'TypeError', code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'app', message: c.message,
    }, c.name);
  }
  t.type(toUpgradeListener(() => ({ status: 204 })), 'function', 'a gateway app is taken');
});
