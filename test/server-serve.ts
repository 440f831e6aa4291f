/**
 * serve() in this process, against real clients: addresses, limits, broken requests, the access
 * log and graceful shutdown. (Workers and signals run in child processes: test/server-workers.ts,
 * test/cli.ts.)
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fromNodeListener } from '../src/adapters/node.js';
import type { GatewayApp } from '../src/gateway.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { combinedLogLine, logQuoted, logTime, logWriter } from '../src/server/access-log.js';
import { serve, type RunningServer, type ServeOptions } from '../src/server/serve.js';
import { checkServeOptions, parseBind } from '../src/server/settings.js';
import { connect, rawExchange, request, sleep, statusLine, type Target } from './fixtures/http-client.js';

/** Log lines a server wrote, by sink. */
interface Logs { access: string[]; log: string[] }

/** serve() on an ephemeral port with logs captured; closed (at once) when the test ends. */
async function start(t: Test, app: GatewayApp, options: ServeOptions = {}): Promise<{ server: RunningServer; target: Target; logs: Logs }> {
  const logs: Logs = { access: [], log: [] };
  const server = await serve(app, {
    bind: '127.0.0.1:0',
    accessLog: (line) => logs.access.push(line),
    log: (line) => logs.log.push(line),
    ...options,
  });
  t.teardown(() => {
    for (const s of server.servers) s.closeAllConnections();
    return server.close();
  });
  const first = server.addresses[0]!;
  const target: Target = first.startsWith('unix:') ? { socketPath: first.slice(5) } : { port: Number(first.split(':').pop()) };
  return { server, target, logs };
}

/** Wait until `ready()`: an access log line is written once the response is complete, a moment after the client has it. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await sleep(5);
}

const hello: GatewayApp = (env) => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: `hello ${env.remoteAddr}` });

// A few tests wait on real time: the refusal log's window, slow clients, timeouts.
t.setTimeout(120_000);

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-serve-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('options are checked before anything listens', async (t) => {
  const cases: [string, unknown, RegExp | string, string][] = [
    ['not an object', 'x', /^`options` must be an object, got "x"$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['unknown option', { port: 80 }, '`port` is not a serve option', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['an array', [], /^`options` must be an object, got an array$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['bind of the wrong type', { bind: 8000 }, /^`bind` must be an address or a non-empty array/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['empty bind list', { bind: [] }, /^`bind` must be an address or a non-empty array/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['bind entry not a string', { bind: ['127.0.0.1:0', 1] }, /^`bind\[1\]` must be "host:port" or "unix:\/path", got 1$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['bind without a port', { bind: 'localhost' }, /^`bind` must be "host:port" \(port 0-65535, IPv6 in brackets\)/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['workers not an integer', { workers: 1.5 }, '`workers` must be an integer, got 1.5', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['workers negative', { workers: -1 }, '`workers` must be from 0 to 2147483647, got -1', 'ERR_PROXYFIX_OPTION_RANGE'],
    ['timeout as a string', { headersTimeout: '5' }, '`headersTimeout` must be an integer, got "5"', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['timeout too long for a timer', { drainTimeout: 2 ** 31 }, /^`drainTimeout` must be from 0 to 2147483647/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['maxHeaderSize 0', { maxHeaderSize: 0 }, /^`maxHeaderSize` must be from 1/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['maxConnections 0', { maxConnections: 0 }, /^`maxConnections` must be from 1/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['maxHeaderLines 0', { maxHeaderLines: 0 }, /^`maxHeaderLines` must be from 1/, 'ERR_PROXYFIX_OPTION_RANGE'],
    ['responseTimeout not an integer', { responseTimeout: 0.5 }, '`responseTimeout` must be an integer, got 0.5', 'ERR_PROXYFIX_OPTION_TYPE'],
    ['headersTimeout above requestTimeout', { headersTimeout: 2000, requestTimeout: 1000 },
      /^`headersTimeout` \(2000\) must not exceed `requestTimeout` \(1000\)/, 'ERR_PROXYFIX_OPTION_CONFLICT'],
    ['maxRestartDelay below restartDelay', { restartDelay: 500, maxRestartDelay: 100 },
      /^`maxRestartDelay` \(100\) must not be below `restartDelay` \(500\)/, 'ERR_PROXYFIX_OPTION_CONFLICT'],
    ['accessLog not a sink', { accessLog: 'stdout' }, /^`accessLog` must be false, a function or a writable stream, got "stdout"$/, 'ERR_PROXYFIX_OPTION_TYPE'],
    ['log not a sink', { log: { write: 1 } }, /^`log` must be false, a function or a writable stream, got an object$/, 'ERR_PROXYFIX_OPTION_TYPE'],
  ];
  for (const [name, options, message, code] of cases) {
    await t.rejects(serve(hello, options as ServeOptions), { message, code }, name);
  }
  await t.rejects(serve('app' as unknown as GatewayApp), { code: 'ERR_PROXYFIX_OPTION_TYPE', option: 'app' }, 'not an app');
  t.match(checkServeOptions({}), {
    binds: [{ host: '127.0.0.1', port: 8000 }], workers: 0, keepAliveTimeout: 5000, headersTimeout: 60_000,
    requestTimeout: 300_000, maxHeaderSize: 16_384, maxHeaderLines: 200, responseTimeout: 60_000, maxConnections: Infinity,
    drainTimeout: 30_000,
  }, 'the defaults');
  t.equal(checkServeOptions({ maxConnections: Infinity, requestTimeout: 0, headersTimeout: 999_999 }).maxConnections, Infinity,
    'maxConnections may be Infinity; requestTimeout 0 puts no bound on headersTimeout');
});

t.test('parseBind: the address forms', async (t) => {
  const valid: [string, object][] = [
    ['127.0.0.1:8000', { host: '127.0.0.1', port: 8000 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
    ['[::1]:8000', { host: '::1', port: 8000 }],
    ['[::]:80', { host: '::', port: 80 }],
    ['unix:/run/app.sock', { path: '/run/app.sock' }],
    ['unix:relative.sock', { path: 'relative.sock' }],
  ];
  for (const [text, expected] of valid) t.same(parseBind('bind', text), { ...expected, text }, text);
  for (const text of ['8000', ':8000', '127.0.0.1', '127.0.0.1:65536', '::1:8000', '[::1]', '[nope]:80', 'a b:80', 'unix:', 'http://x:80', '127.0.0.1:-1']) {
    t.throws(() => parseBind('bind', text), { name: 'RangeError', code: 'ERR_PROXYFIX_OPTION_RANGE' }, text);
  }
});

t.test('combined log format: fields, time and escaping', async (t) => {
  const time = new Date(2026, 0, 5, 7, 8, 9);
  t.match(logTime(time), /^05\/Jan\/2026:07:08:09 [+-]\d{4}$/);
  t.equal(logQuoted(undefined), '"-"');
  t.equal(logQuoted('curl/8.0 "quoted" \\ back'), '"curl/8.0 \\"quoted\\" \\\\ back"');
  t.equal(logQuoted('line\nbreak\ttab\u00e9'), '"line\\x0abreak\\x09tab\\xe9"', 'a client cannot start a new log line');
  t.match(combinedLogLine({ remoteAddr: '203.0.113.7', time, requestLine: 'GET / HTTP/1.1', status: 200, bytes: 5, referer: 'http://r/', userAgent: 'ua' }),
    /^203\.0\.113\.7 - - \[05\/Jan\/2026:07:08:09 [+-]\d{4}\] "GET \/ HTTP\/1\.1" 200 5 "http:\/\/r\/" "ua"$/);
  t.match(combinedLogLine({ remoteAddr: '', time, requestLine: undefined, status: 400, bytes: 0, referer: undefined, userAgent: undefined }),
    /^- - - \[.*\] "-" 400 - "-" "-"$/);
});

t.test('logTime writes the offset of the local time zone', async (t) => {
  // node reads TZ again when it changes, so each zone can be tried here.
  const saved = process.env.TZ;
  t.teardown(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
  const cases = [['UTC', '12:00', '+0000'], ['Asia/Kolkata', '17:30', '+0530'], ['America/St_Johns', '08:30', '-0330']] as const;
  for (const [zone, clock, offset] of cases) {
    process.env.TZ = zone;
    t.equal(logTime(new Date(Date.UTC(2026, 0, 15, 12))), `15/Jan/2026:${clock}:00 ${offset}`, zone);
  }
});

t.test('serves on several addresses at once, TCP and Unix', async (t) => {
  const dir = tempDir(t);
  const socketPath = join(dir, 'app.sock');
  const { server, logs } = await start(t, hello, { bind: ['127.0.0.1:0', '[::1]:0', `unix:${socketPath}`] });
  t.equal(server.addresses.length, 3);
  t.match(server.addresses[0], /^127\.0\.0\.1:\d+$/);
  t.match(server.addresses[1], /^\[::1\]:\d+$/);
  t.equal(server.addresses[2], `unix:${socketPath}`);
  t.equal(server.servers.length, 3);
  t.same(server.workers, []);
  t.equal((await request({ port: Number(server.addresses[0]!.split(':')[1]) })).body, 'hello 127.0.0.1');
  t.equal((await request({ port: Number(server.addresses[1]!.split(':').pop()), host: '::1' })).body, 'hello ::1');
  logs.access.length = 0;
  t.equal((await request({ socketPath })).body, 'hello ', 'a Unix socket peer has no address');
  await until(() => logs.access.length === 1);
  t.equal(statusLine((await rawExchange({ socketPath }, ['BROKEN\r\n\r\n'])).data), 'HTTP/1.1 400 Bad Request');
  t.match(logs.access, [/^- - - \[.*\] "GET \/ HTTP\/1\.1" 200 6 /, /^- - - \[.*\] "-" 400 12 /],
    'a Unix socket peer is logged as -');
  t.match(logs.log, [new RegExp(`^\\[proxyfix ${process.pid}\\] listening on http://127\\.0\\.0\\.1:\\d+, http://\\[::1\\]:\\d+, unix:${socketPath}$`)]);
  await server.close();
  t.notOk(existsSync(socketPath), 'the socket file is gone after close');
});

t.test('a Unix socket path: a stale socket is replaced, anything else is not touched', async (t) => {
  const dir = tempDir(t);
  const stale = join(dir, 'stale.sock');
  // A server killed without closing leaves its socket file behind.
  spawnSync(process.execPath, ['-e',
    `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
  t.ok(existsSync(stale), 'the killed server left its socket file');
  const { server } = await start(t, hello, { bind: `unix:${stale}` });
  t.equal((await request({ socketPath: stale })).body, 'hello ');

  await t.rejects(serve(hello, { bind: `unix:${stale}`, log: false }), { code: 'EADDRINUSE' }, 'a live socket is not taken over');
  t.equal((await request({ socketPath: stale })).body, 'hello ', 'and keeps serving');
  await server.close();

  const file = join(dir, 'file.sock');
  writeFileSync(file, 'data');
  await t.rejects(serve(hello, { bind: `unix:${file}`, log: false }), {
    message: `cannot listen on unix:${file}: the file exists and is not a socket`,
  });
  t.ok(existsSync(file), 'a file that is not a socket is left alone');

  // One address failing closes those already bound.
  const first = await new Promise<number>((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  await t.rejects(serve(hello, { bind: [`127.0.0.1:${first}`, `unix:${file}/below-a-file.sock`], log: false }), { code: 'ENOTDIR' });
  const again = await serve(hello, { bind: `127.0.0.1:${first}`, log: false, accessLog: false });
  t.pass('the first address was released');
  await again.close();
});

t.test('with workers, an address that cannot be bound fails serve() before any worker starts', async (t) => {
  // 192.0.2.1 (TEST-NET-1) is never a local address, so this primary fails before it forks: it
  // must not fork here, where a worker would run this test file again.
  await t.rejects(serve(hello, { bind: '192.0.2.1:0', workers: 2, log: false }), { code: 'EADDRNOTAVAIL' });
});

t.test('an address in use fails serve() with the listen error', async (t) => {
  const { server } = await start(t, hello);
  await t.rejects(serve(hello, { bind: server.addresses[0], log: false }), { code: 'EADDRINUSE' });
});

t.test('keep-alive: several requests on one connection, which is closed once idle for keepAliveTimeout', async (t) => {
  const { target } = await start(t, hello, { keepAliveTimeout: 200 });
  const socket = await connect(target);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
  for (let i = 1; i <= 3; i++) {
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    while (data.split('hello 127.0.0.1').length <= i) await sleep(10);
  }
  t.equal(data.match(/HTTP\/1\.1 200 OK/g)?.length, 3, 'one connection served all three');
  t.match(data, /Connection: keep-alive\r\nKeep-Alive: timeout=0\r\n|Keep-Alive: timeout=/);
  await new Promise((resolve) => socket.on('close', resolve));
  t.pass('the server closed the idle connection');
});

t.test('broken requests get a short 400, 431 or 408 and the server carries on', async (t) => {
  const { target, logs } = await start(t, hello, { maxHeaderSize: 1024, headersTimeout: 300, requestTimeout: 600 });
  const bad = await rawExchange(target, ['GET / HTTP/1.1\r\nHost: a\r\nNo Colon Here\r\n\r\n']);
  t.equal(statusLine(bad.data), 'HTTP/1.1 400 Bad Request');
  t.match(bad.data, /\r\nConnection: close\r\n[^]*\r\n\r\nBad Request\n$/);

  const big = await rawExchange(target, [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`]);
  t.equal(statusLine(big.data), 'HTTP/1.1 431 Request Header Fields Too Large');

  const slowHeaders = await rawExchange(target, ['GET / HTTP/1.1\r\n', 'Host: a\r\n', 'X-Slow: 1\r\n', '\r\n'], 250);
  t.equal(statusLine(slowHeaders.data), 'HTTP/1.1 408 Request Timeout', 'headers sent too slowly are cut off');
  t.notMatch(slowHeaders.data, /hello/, 'the app never saw them');

  const reading: GatewayApp = async (env) => {
    let size = 0;
    for await (const chunk of env.body) size += chunk.byteLength;
    return { status: 200, body: `read ${size}` };
  };
  const { target: bodyTarget } = await start(t, reading, { headersTimeout: 300, requestTimeout: 300 });
  const slowBody = await rawExchange(bodyTarget, ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345', '6', '7', '8'], 200);
  t.equal(statusLine(slowBody.data), 'HTTP/1.1 408 Request Timeout', 'a body sent too slowly is cut off');

  t.match(await request(target), { status: 200, body: 'hello 127.0.0.1' }, 'the server still answers');
  t.match(logs.access.slice(0, 3), [/^127\.0\.0\.1 - - \[.*\] "-" 400 12 "-" "-"$/, /"-" 431 32 /, /"-" 408 16 /],
    'the access log shows the refused requests');
});

t.test('a broken request on a connection whose response is under way: no 400 inside the running response, which finishes first', async (t) => {
  let release: () => void = () => {};
  const app: GatewayApp = () => ({
    status: 200,
    body: (async function* () {
      yield Buffer.from('started ');
      await new Promise<void>((resolve) => { release = resolve; });
      yield Buffer.from('finished');
    })(),
  });
  const { target } = await start(t, app, { log: false });
  const socket = await connect(target);
  let data = '';
  let broken = false;
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    data += chunk;
    if (data.includes('started ') && !broken) {
      broken = true;
      socket.write('BROKEN\r\n\r\n');
      setTimeout(() => release(), 50);
    }
  });
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  while (!broken) await sleep(5);
  await sleep(10);
  socket.write('MORE GARBAGE\r\n\r\n');
  await new Promise((resolve) => socket.on('close', resolve));
  const end = data.indexOf('finished\r\n0\r\n\r\n');
  t.ok(end > 0, 'the running response was finished, not cut');
  t.notMatch(data.slice(0, end), /400/, 'no 400 inside the running response');
  t.match(data, /^HTTP\/1\.1 200 OK/);
  t.match(data.slice(end), /^finished\r\n0\r\n\r\nHTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nBad Request\n$/, 'the 400 comes after it');
});

t.test('a client that resets the connection mid-request gets nothing, and nothing breaks', async (t) => {
  const { target, logs } = await start(t, hello);
  const socket = await connect(target);
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
  await sleep(50);
  socket.resetAndDestroy();
  await new Promise((resolve) => socket.on('close', resolve));
  t.match(await request(target), { status: 200 });
  await until(() => logs.access.length > 0);
  await sleep(50);
  t.equal(logs.access.length, 1, 'only the good request is logged');
});

t.test('maxConnections: connections beyond it are refused', async (t) => {
  const { target, logs } = await start(t, hello, { maxConnections: 1 });
  const held = await connect(target);
  const refused = await rawExchange(target, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n']);
  t.equal(refused.data, '', 'the second connection is closed without an answer');
  t.match(logs.log.at(-1), /refused a connection on 127\.0\.0\.1:0: maxConnections \(1\) reached$/);
  held.destroy();
  await new Promise((resolve) => held.on('close', resolve));
  // The server counts the closed connection asynchronously; a refused retry is legitimate meanwhile.
  let answer;
  while (!(answer = await request(target).catch(() => undefined))) await sleep(20);
  t.equal(answer.status, 200, 'once the first connection is gone, a new one is served');
});

t.test('the access log: one combined line per request, with the fixed client address', async (t) => {
  const { target, logs } = await start(t, proxyFix(hello, { xFor: 1 }));
  await request(target, {
    path: '/p?q=1',
    headers: { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', Referer: 'https://ref.example/', 'User-Agent': 'test "agent"' },
  });
  await until(() => logs.access.length === 1);
  await request(target, { method: 'HEAD', path: '/head' });
  await until(() => logs.access.length === 2);
  t.match(logs.access, [
    /^203\.0\.113\.7 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/p\?q=1 HTTP\/1\.1" 200 17 "https:\/\/ref\.example\/" "test \\"agent\\""$/,
    /^127\.0\.0\.1 - - \[.*\] "HEAD \/head HTTP\/1\.1" 200 - "-" "-"$/,
  ]);
});

t.test('log sinks: a stream, a function, or nothing', async (t) => {
  const streamed: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { streamed.push(String(chunk)); done(); } });
  const server = await serve(hello, { bind: '127.0.0.1:0', accessLog: stream, log: stream });
  await request({ port: Number(server.addresses[0]!.split(':')[1]) });
  await until(() => streamed.length === 2);
  await server.close();
  t.match(streamed, [/listening on/, /"GET \/ HTTP\/1\.1" 200/]);
  t.ok(streamed.every((line) => line.endsWith('\n')), 'a stream gets whole lines');

  const quiet = await serve(hello, { bind: '127.0.0.1:0', accessLog: false, log: false, requestTimeout: 0 });
  const port = Number(quiet.addresses[0]!.split(':')[1]);
  t.equal((await request({ port })).status, 200, 'serves with both logs off');
  t.equal(statusLine((await rawExchange({ port }, ['BROKEN\r\n\r\n'])).data), 'HTTP/1.1 400 Bad Request');
  await quiet.close();
});

t.test('an access log stream gets the lines of one turn of the event loop in one write, in order, whole', async (t) => {
  const writes: string[] = [];
  const sink = { write(chunk: string) { writes.push(chunk); } };
  const write = logWriter('accessLog', sink, process.stdout, true)!;
  const line = (i: number) => `line ${String(i).padStart(5, '0')} ${'x'.repeat(90)}`;
  for (let i = 0; i < 3; i++) write(line(i));
  t.same(writes, [], 'nothing is written during the turn');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(writes, [`${line(0)}\n${line(1)}\n${line(2)}\n`], 'one write at its end');

  // 64 KiB is written at once, the rest at the end of the turn.
  writes.length = 0;
  for (let i = 0; i < 1000; i++) write(line(i));
  t.equal(writes.length, 1, 'a full batch is written during the turn');
  t.ok(writes[0]!.length >= 64 * 1024 && writes[0]!.endsWith('\n'));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(writes.length, 2);
  t.same(writes.join('').split('\n').slice(0, -1), Array.from({ length: 1000 }, (_, i) => line(i)), 'every line, in order');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(writes.length, 2, 'an empty batch is not written');

  t.not(logWriter('log', sink, process.stdout), undefined);
  const unbatched: string[] = [];
  logWriter('log', { write: (chunk: string) => unbatched.push(chunk) }, process.stdout)!('now');
  t.same(unbatched, ['now\n'], 'the server\'s own messages are written as they come');
});

t.test('responseTimeout 0: an app may take as long as it takes', async (t) => {
  const later: GatewayApp = async () => {
    await sleep(30);
    return { status: 200, body: 'later' };
  };
  const { target } = await start(t, later, { responseTimeout: 0 });
  t.equal((await request(target)).body, 'later');
});

t.test('close() resolves after the last access lines are written', async (t) => {
  const streamed: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { streamed.push(String(chunk)); done(); } });
  const slow: GatewayApp = async () => {
    await sleep(50);
    return { status: 200, body: 'late' };
  };
  const server = await serve(slow, { bind: '127.0.0.1:0', accessLog: stream, log: false });
  const answers = Promise.all([1, 2, 3].map(() => request({ port: Number(server.addresses[0]!.split(':')[1]) })));
  await sleep(20);
  // The requests are in flight: their lines are gathered as their connections close at shutdown.
  await server.close();
  t.equal(streamed.join('').split('\n').filter((l) => l !== '').length, 3, 'every line is out when close() resolves');
  t.same((await answers).map((a) => a.body), ['late', 'late', 'late']);
});

t.test('app errors go to the log; a server error after start-up is logged, not thrown', async (t) => {
  const { server, target, logs } = await start(t, (env) => {
    if (env.pathInfo === '/string') throw 'not an Error';
    throw new Error('boom');
  });
  t.equal((await request(target, { path: '/x' })).status, 500);
  t.equal((await request(target, { path: '/string' })).status, 500);
  t.match(logs.log[1], /^\[proxyfix \d+\] error in GET \/x: Error: boom\n\s+at /);
  t.match(logs.log[2], /error in GET \/string: not an Error$/);
  server.servers[0]!.emit('error', new Error('accept EMFILE'));
  t.match(logs.log[3], /server error on 127\.0\.0\.1:0: accept EMFILE$/);
  t.equal((await request(target)).status, 500, 'still serving');
});

t.test('a holder\'s gatewayApp is read on every request', async (t) => {
  const holder = { gatewayApp: ((): ReturnType<GatewayApp> => ({ status: 200, body: 'one' })) as GatewayApp };
  const { target } = await start(t, holder as unknown as GatewayApp);
  t.equal((await request(target)).body, 'one');
  holder.gatewayApp = proxyFix(() => ({ status: 200, body: 'two' }), { xFor: 1 });
  t.equal((await request(target)).body, 'two');
});

t.test('close(): in-flight requests finish, idle connections close, new ones are refused', async (t) => {
  const arrived: (() => void)[] = [];
  let count = 0;
  const { server, target, logs } = await start(t, async (env) => {
    count++;
    await new Promise<void>((resolve) => arrived.push(resolve));
    return { status: 200, body: `done ${env.pathInfo}` };
  }, { keepAliveTimeout: 60_000 });
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());

  // A connection that has sent nothing, an idle keep-alive one, and three requests in flight.
  const fresh = await connect(target);
  const freshClosed = new Promise((resolve) => fresh.on('close', resolve));
  const used = await connect(target);
  used.write('GET /used HTTP/1.1\r\nHost: a\r\n\r\n');
  while (count < 1) await sleep(10);
  arrived.shift()!();
  await new Promise((resolve) => used.once('data', resolve));
  const usedClosed = new Promise((resolve) => used.on('close', resolve));
  count = 0;
  const answers = ['/a', '/b', '/c'].map((path) => request(target, { path, agent }));
  while (count < 3) await sleep(10);

  const closing = server.close();
  t.equal(server.close(), closing, 'close() twice is the same shutdown');
  await freshClosed;
  await usedClosed;
  t.pass('the idle connections were closed at once');
  await t.rejects(request(target), { code: 'ECONNREFUSED' }, 'nothing new is accepted');
  for (const resolve of arrived) resolve();
  const done = await Promise.all(answers);
  t.same(done.map((a) => [a.status, a.body, a.headers.connection]), [
    [200, 'done /a', 'close'], [200, 'done /b', 'close'], [200, 'done /c', 'close'],
  ], 'every in-flight request got its answer, with Connection: close');
  await closing;
  t.notMatch(logs.log.join('\n'), /drainTimeout/);
});

t.test('close(): a response already streaming finishes, then its keep-alive connection closes', async (t) => {
  let release: () => void = () => {};
  const { server, target } = await start(t, (env) => env.pathInfo === '/stream'
    ? {
      status: 200,
      body: (async function* () {
        yield Buffer.from('head ');
        await new Promise<void>((resolve) => { release = resolve; });
        yield Buffer.from('tail');
      })(),
    }
    : { status: 200, body: 'quick' }, { keepAliveTimeout: 60_000 });
  const socket = await connect(target);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
  socket.write('GET /stream HTTP/1.1\r\nHost: a\r\n\r\n');
  while (!data.includes('head ')) await sleep(10);
  const closing = server.close();
  // A request pipelined behind it, during shutdown: answered, and told the connection closes.
  socket.write('GET /quick HTTP/1.1\r\nHost: a\r\n\r\n');
  await sleep(50);
  release();
  await new Promise((resolve) => socket.on('close', resolve));
  await closing;
  t.match(data, /keep-alive[^]*head [^]*tail[^]*Connection: close[^]*quick$/,
    'both responses arrived, the second saying the connection closes, then it was closed');
});

t.test('close(): a request that takes longer than drainTimeout is cut off', async (t) => {
  let arrived = false;
  const { server, target, logs } = await start(t, () => {
    arrived = true;
    return new Promise(() => {});
  }, { drainTimeout: 100 });
  const pending = request(target).catch((error: NodeJS.ErrnoException) => error.code);
  while (!arrived) await sleep(10);
  await server.close();
  t.equal(await pending, 'ECONNRESET', 'the client sees the connection cut');
  t.match(logs.log.at(-1), /drainTimeout \(100 ms\) reached: closing 1 unfinished request\(s\)$/);
});

t.test('close() with no connections resolves at once', async (t) => {
  const { server } = await start(t, hello);
  await server.close();
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Hardening (issue 13): nothing a client sends is lost or misreported without a word.

/** A head with `lines` header lines in all (Host and Connection: close among them). */
function headWithLines(lines: number, path = '/lines', name = (i: number) => `X-Line-${i}`): string {
  const extra = Array.from({ length: lines - 2 }, (_, i) => `${name(i)}: ${i}\r\n`).join('');
  return `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}Connection: close\r\n\r\n`;
}

t.test('a head of more than maxHeaderLines lines gets a 431: a line is never dropped unseen', async (t) => {
  let calls = 0;
  const counting: GatewayApp = (env) => {
    calls++;
    return { status: 200, body: `${env.headers['x-line-0'] === undefined ? 0 : Object.keys(env.headers).length} headers` };
  };
  const { target, logs } = await start(t, counting, { maxHeaderLines: 20 });
  const fits = await rawExchange(target, [headWithLines(20)]);
  t.equal(statusLine(fits.data), 'HTTP/1.1 200 OK', 'maxHeaderLines lines are served');
  t.match(fits.data, /\r\n\r\n20 headers$/, 'with every line');
  const over = await rawExchange(target, [headWithLines(21)]);
  t.equal(statusLine(over.data), 'HTTP/1.1 431 Request Header Fields Too Large', 'one more is refused');
  t.match(over.data, /\r\nConnection: close\r\n/);
  t.equal(calls, 1, 'the app never saw the refused request');
  await until(() => logs.access.length === 2);
  t.match(logs.access[1], /^127\.0\.0\.1 - - \[.*\] "GET \/lines HTTP\/1\.1" 431 \d+ "-" "-"$/, 'the log names the request it refused');

  // The default: 1,100 lines of `A: ` are 5.6 KB, far below maxHeaderSize, and far more than node keeps.
  const { target: defaults } = await start(t, counting);
  const many = await rawExchange(defaults, [headWithLines(1100, '/', () => 'A')]);
  t.equal(statusLine(many.data), 'HTTP/1.1 431 Request Header Fields Too Large', '1,100 lines under the default bound');
  t.equal(statusLine((await rawExchange(defaults, [headWithLines(200)])).data), 'HTTP/1.1 200 OK', '200 lines are served by default');
  t.equal(statusLine((await rawExchange(defaults, [headWithLines(201)])).data), 'HTTP/1.1 431 Request Header Fields Too Large', '201 are not');
  t.equal(calls, 2);
});

t.test('keepAliveTimeout 0: no keep-alive, every response closes its connection', async (t) => {
  const { target } = await start(t, hello, { keepAliveTimeout: 0 });
  const socket = await connect(target);
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
  const closed = new Promise<boolean>((resolve) => socket.on('close', () => resolve(true)));
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  t.ok(await Promise.race([closed, sleep(2000).then(() => false)]), 'the server closed the connection after the response');
  t.match(data, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n[^]*hello 127\.0\.0\.1$/, 'and said so');
  socket.destroy();
});

t.test('a broken request pipelined behind a valid one: the valid one gets its own answer, then the 400, and the log says each', async (t) => {
  const { target, logs } = await start(t, async (env) => {
    await sleep(50);
    return { status: 200, body: `hello ${env.pathInfo}` };
  });
  const { data } = await rawExchange(target, ['GET /valid HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\nBROKEN\r\n\r\n']);
  t.match(data, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello \/validHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello \/secondHTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nBad Request\n$/,
    'each valid request its answer, in order, then the 400');
  await until(() => logs.access.length === 3);
  t.match(logs.access, [/"GET \/valid HTTP\/1\.1" 200 12 /, /"GET \/second HTTP\/1\.1" 200 13 /, /"-" 400 12 /]);

  // An answer that closes the connection leaves nobody to read a 400 (keepAliveTimeout 0 closes after each).
  const { target: closing, logs: closingLogs } = await start(t, hello, { keepAliveTimeout: 0 });
  const once = await rawExchange(closing, ['GET /valid HTTP/1.1\r\nHost: a\r\n\r\nBROKEN\r\n\r\n']);
  t.match(once.data, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n[^]*hello 127\.0\.0\.1$/, 'the valid answer, and nothing after it');
  await until(() => closingLogs.access.length === 1);
  await sleep(50);
  t.equal(closingLogs.access.length, 1, 'and one line');
});

t.test('every access-log field is escaped: an address set from client data forges no field and no line', async (t) => {
  const time = new Date(2026, 0, 5, 7, 8, 9);
  t.match(combinedLogLine({ remoteAddr: '1.2.3.4 - - [x] "GET /admin HTTP/1.1" 200 5 "-" "-"\n6.6.6.6', time, requestLine: 'GET / HTTP/1.1',
    status: 200, bytes: 1, referer: undefined, userAgent: undefined }),
  /^1\.2\.3\.4\\x20-\\x20-\\x20\[x\]\\x20\\"GET\\x20\/admin\\x20HTTP\/1\.1\\"\\x20200\\x205\\x20\\"-\\"\\x20\\"-\\"\\x0a6\.6\.6\.6 - - \[/);
  t.equal(logQuoted('\u2028 \u00e9'), '"\\u2028 \\xe9"', 'a character above U+00FF has an escape that reads one way');

  // A rewriter that takes the address from a header the client writes (what rewriteHeaders without
  // `trusted` does): the client chooses every byte node lets through in a header value.
  const fromHeader: GatewayApp = (env) => {
    env.remoteAddr = env.headers['x-client'] ?? '';
    return { status: 200, body: 'ok' };
  };
  const { target, logs } = await start(t, fromHeader);
  const forged = '1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET /admin HTTP/1.1" 200 5 "-" "-"\x85\xa0';
  await rawExchange(target, [`GET / HTTP/1.1\r\nHost: a\r\nX-Client: ${forged}\r\nConnection: close\r\n\r\n`]);
  await until(() => logs.access.length === 1);
  const line = logs.access[0]!;
  t.match(line, /^1\.2\.3\.4\\x20-\\x20-\\x20\[01\/Jan\/2026:00:00:00\\x20\+0000\]\\x20\\"GET\\x20\/admin\\x20HTTP\/1\.1\\"\\x20200\\x205\\x20\\"-\\"\\x20\\"-\\"\\xc2\\x85\\xc2\\xa0 - - \[/,
    'the forged address is one field, escaped');
  t.equal(line.split(' ').length, 12, 'the line has as many space-separated parts as any combined line');
  t.match(line, / "GET \/ HTTP\/1\.1" 200 2 "-" "-"$/);
});

t.test('a client that leaves mid-body: one access line (400), and no app error', async (t) => {
  const reading: GatewayApp = async (env) => {
    let size = 0;
    for await (const chunk of env.body) size += chunk.byteLength;
    return { status: 200, body: `read ${size}` };
  };
  const { target, logs } = await start(t, reading);
  const head = 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345';

  // It stops sending (FIN): it can still read the answer.
  const halfClosed = await connect(target);
  let data = '';
  halfClosed.setEncoding('utf8').on('data', (chunk: string) => { data += chunk; });
  halfClosed.write(head);
  await sleep(50);
  halfClosed.end();
  await new Promise((resolve) => halfClosed.on('close', resolve));
  t.equal(statusLine(data), 'HTTP/1.1 400 Bad Request', 'a client that stopped sending gets a 400');
  await until(() => logs.access.length === 1);

  // It resets the connection.
  const reset = await connect(target);
  reset.write(head);
  await sleep(50);
  reset.resetAndDestroy();
  await until(() => logs.access.length === 2);

  // The app answered without reading the body, then the client left: the answer's line, nothing more.
  const { target: ignoring, logs: ignoringLogs } = await start(t, () => ({ status: 200, body: 'ignored' }));
  const early = await connect(ignoring);
  let earlyData = '';
  early.setEncoding('utf8').on('data', (chunk: string) => { earlyData += chunk; });
  early.write(head);
  while (!earlyData.includes('ignored')) await sleep(10);
  early.resetAndDestroy();
  await until(() => ignoringLogs.access.length === 1);

  // The app's answer is streaming when the client leaves: the connection is closed, one line.
  let streamed = false;
  const { target: streaming, logs: streamingLogs } = await start(t, () => ({
    status: 200,
    body: (async function* () {
      yield Buffer.from('streaming ');
      await sleep(100);
      streamed = true;
      yield Buffer.from('more');
    })(),
  }));
  const midStream = await connect(streaming);
  let midData = '';
  midStream.setEncoding('utf8').on('data', (chunk: string) => { midData += chunk; });
  midStream.write(head);
  while (!midData.includes('streaming')) await sleep(10);
  midStream.resetAndDestroy();
  await until(() => streamingLogs.access.length === 1);
  t.notOk(streamed, 'the line is written as the client leaves, not when the body next yields');
  t.match(streamingLogs.access, [/"POST \/upload HTTP\/1\.1" 200 - /], 'the answer it was getting, cut');
  t.same(streamingLogs.log.filter((line) => !/listening on/.test(line)), []);

  await sleep(100);
  t.match(logs.access, [/"POST \/upload HTTP\/1\.1" 400 /, /"POST \/upload HTTP\/1\.1" 400 /], 'one line each, with 400, as nginx logs it');
  t.match(ignoringLogs.access, [/"POST \/upload HTTP\/1\.1" 200 7 /], 'one line for the answered one');
  t.same(logs.log.filter((line) => !/listening on/.test(line)), [], 'no app error: it was the client\'s doing');
  t.same(ignoringLogs.log.filter((line) => !/listening on/.test(line)), []);
});

t.test('maxConnections: refusals are counted, and logged at most twice per address every 5 s', async (t) => {
  const { server, target, logs } = await start(t, hello, { maxConnections: 1 });
  const held = await connect(target);
  t.teardown(() => held.destroy());
  const refuse = async (n: number) => {
    for (let i = 0; i < n; i++) t.equal((await rawExchange(target, ['GET / HTTP/1.1\r\nHost: a\r\n\r\n'])).data, '');
  };
  await refuse(20);
  const refusals = () => logs.log.filter((line) => /refused/.test(line));
  t.equal(refusals().length, 1, 'the first refusal is logged at once, the rest are counted');
  t.match(refusals()[0], /refused a connection on 127\.0\.0\.1:0: maxConnections \(1\) reached$/);
  await until(() => refusals().length === 2);
  t.match(refusals()[1], /refused 19 more connection\(s\) on 127\.0\.0\.1:0 in the last 5 s: maxConnections \(1\) reached$/);
  await refuse(3);
  t.equal(refusals().length, 3, 'after a quiet window, the next refusal is logged at once again');
  held.destroy();
  await server.close();
  t.match(refusals()[3], /refused 2 more connection\(s\) on 127\.0\.0\.1:0 in the last [\d.]+ s: maxConnections \(1\) reached$/,
    'what was counted is logged at shutdown');
});

t.test('a Unix socket file is removed at close only if it is still this server\'s', async (t) => {
  const dir = tempDir(t);
  const socketPath = join(dir, 'app.sock');
  const old = await serve(() => ({ status: 200, body: 'old' }), { bind: `unix:${socketPath}`, log: false, accessLog: false });
  t.equal((await request({ socketPath })).body, 'old');
  // A deploy that moved the file aside and started the new server on the path while the old one drains.
  rmSync(socketPath);
  const { server: current } = await start(t, () => ({ status: 200, body: 'new' }), { bind: `unix:${socketPath}` });
  await old.close();
  t.ok(existsSync(socketPath), 'the old server left the new server\'s socket file alone');
  t.equal((await request({ socketPath })).body, 'new', 'the new server is still reachable');
  await current.close();
  t.notOk(existsSync(socketPath), 'the new server removed its own file');
  t.same(readdirSync(dir), [], 'and nothing else is left');

  const gone = await serve(hello, { bind: `unix:${socketPath}`, log: false, accessLog: false });
  rmSync(socketPath);
  await gone.close();
  t.pass('a server whose file someone removed closes all the same');

  // node would cut a longer path short without a word, and bind a file of another name.
  for (const length of [108, 104]) {
    const long = join(dir, 'x'.repeat(length - dir.length - 1));
    await t.rejects(serve(hello, { bind: `unix:${long}`, log: false }), { message: new RegExp(`^cannot listen on unix:${long}: \\S+ is longer than a Unix socket path can be \\(\\d+ bytes, at most 107\\); choose a shorter path$`) },
      `a path of ${length} bytes`);
  }
  t.same(readdirSync(dir), [], 'nothing was bound');

  writeFileSync(join(dir, 'file'), '');
  await t.rejects(serve(hello, { bind: [`unix:${socketPath}`, `unix:${join(dir, 'file', 'below.sock')}`], log: false }), { code: 'ENOTDIR' });
  t.same(readdirSync(dir), ['file'], 'an address that fails takes the socket files already made with it');
});

t.test('responseTimeout: an app that never answers gets a 503, and the server keeps serving', async (t) => {
  const { target, logs } = await start(t, (env) => env.pathInfo === '/never' ? new Promise(() => {}) : { status: 200, body: 'ok' },
    { responseTimeout: 200 });
  const started = Date.now();
  const never = await request(target, { path: '/never' });
  t.equal(never.status, 503);
  t.equal(never.headers.connection, 'close');
  t.ok(Date.now() - started >= 190, 'after responseTimeout');
  t.equal((await request(target)).body, 'ok', 'still serving');
  await until(() => logs.access.length === 2);
  t.match(logs.access, [/"GET \/never HTTP\/1\.1" 503 \d+ /, /"GET \/ HTTP\/1\.1" 200 2 /]);
  t.match(logs.log.filter((line) => !/listening on/.test(line)),
    [/^\[proxyfix \d+\] error in GET \/never: the app did not answer within responseTimeout \(200 ms\); answered 503$/]);
});

t.test('responseTimeout: a body still arriving does not count, and a response under way is not cut', async (t) => {
  const reading: GatewayApp = async (env) => {
    let size = 0;
    for await (const chunk of env.body) size += chunk.byteLength;
    if (env.pathInfo === '/stream') {
      return {
        status: 200,
        body: (async function* () {
          yield Buffer.from('head ');
          await sleep(400);
          yield Buffer.from('tail');
        })(),
      };
    }
    return { status: 200, body: `read ${size}` };
  };
  const { target } = await start(t, reading, { responseTimeout: 150 });
  const slow = await rawExchange(target, ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\n1', '2', '3', '4'], 120);
  t.match(slow.data, /^HTTP\/1\.1 200 OK[^]*read 4$/, 'a body sent over 360 ms');
  const streamed = await request(target, { path: '/stream' });
  t.match(streamed, { status: 200, body: 'head tail' }, 'a response that started in time is not cut');
});

t.test('responseTimeout: a node listener that answers after the 503 writes nowhere, and nothing breaks', async (t) => {
  const late = fromNodeListener((req, res) => {
    if (req.url === '/streams') {
      // Its answer has begun in time: it may take as long as it needs.
      res.write('begun ');
      setTimeout(() => res.end('ended'), 200);
      return;
    }
    res.setHeader('X-Set-Early', 'yes');
    setTimeout(() => {
      res.write('late');
      res.end();
    }, 200);
  });
  const { target } = await start(t, late, { responseTimeout: 50 });
  const answer = await request(target);
  t.equal(answer.status, 503);
  t.equal(answer.headers['x-set-early'], undefined, 'nothing the app set is part of the 503');
  await sleep(300);
  t.equal((await request(target)).status, 503, 'the server is still up');
  t.match(await request(target, { path: '/streams' }), { status: 200, body: 'begun ended' });
});

t.test('a request refused before the app saw it is logged with the socket peer: no forwarded header is read for it', async (t) => {
  const { target, logs } = await start(t, proxyFix(hello, { xFor: 1 }), { maxHeaderLines: 5 });
  const forwarded = 'X-Forwarded-For: 203.0.113.7\r\n';
  await rawExchange(target, [`GET /ok HTTP/1.1\r\nHost: a\r\n${forwarded}Connection: close\r\n\r\n`]);
  await rawExchange(target, [`GET /broken HTTP/1.1\r\nHost: a\r\n${forwarded}No Colon Here\r\n\r\n`]);
  await rawExchange(target, [`GET /lines HTTP/1.1\r\nHost: a\r\n${forwarded}A: 1\r\nB: 2\r\nC: 3\r\nConnection: close\r\n\r\n`]);
  await until(() => logs.access.length === 3);
  t.match(logs.access, [
    /^203\.0\.113\.7 - - \[.*\] "GET \/ok HTTP\/1\.1" 200 /,
    /^127\.0\.0\.1 - - \[.*\] "-" 400 12 /,
    /^127\.0\.0\.1 - - \[.*\] "GET \/lines HTTP\/1\.1" 431 \d+ /,
  ], 'the peer, and the request line where one was read');
});
