/**
 * `npm run bench:memory` (and part of `npm run bench`): what an idle keep-alive connection costs
 * the built-in server, in memory, against raw node:http. Prints a table and writes
 * bench/results/memory.json, which bench/run.ts turns into a section of bench/RESULTS.md.
 *
 * Behind a proxy, a server holds the proxy's idle upstream connections (nginx `keepalive`, HAProxy
 * `http-reuse`) and, exposed, whatever clients leave open; at 10,000 of them, a few kilobytes more
 * per connection is tens of megabytes. So each server runs in a child process of its own with
 * `--expose-gc`, serves a short warm-up, and reports its RSS and heap after full collections; then
 * 10,000 connections each send one request, read the answer, and stay open and idle; the server
 * reports again, and the difference over 10,000 is the cost per connection. The connections are
 * then each sent a second request, to show they were really held (none closed by a timeout).
 *
 * Servers: raw node:http (the floor), node:http serving `toNodeListener(proxyFix(app))` (the
 * adapter's share), and `serve(proxyFix(app))`, what `proxyfix serve` runs. All use a 120 s
 * keep-alive timeout, so none closes a connection while it is measured.
 *
 * Needs a file-descriptor limit above the connection count in both processes: `ulimit -n 25000`
 * (at most `ulimit -Hn`) in the shell that runs it. Tunable: BENCH_CONNECTIONS (default 10000),
 * BENCH_ROUNDS (default 3; the figures are the medians of the rounds).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toNodeListener } from '../src/adapters/node.js';
import type { GatewayApp } from '../src/gateway.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { median } from './fixtures/measure.js';
import { serve } from '../src/server/serve.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KEEP_ALIVE_MS = 120_000;
/** Connections opened at once: below node's listen backlog (511), so none is dropped by the kernel. */
const BATCH = 400;
const WARM_UP_CONNECTIONS = 20;
const WARM_UP_REQUESTS = 50;

const SERVERS = ['node:http', 'node:http + toNodeListener(proxyFix)', 'serve(proxyFix)'] as const;
type ServerName = (typeof SERVERS)[number];

interface Memory {
  rss: number;
  heapUsed: number;
  /** Memory outside the JS heap that node accounts for: buffers. */
  external: number;
  /** Connections the server has open. */
  open: number;
}

const SELF = fileURLToPath(import.meta.url);
const JSON_FILE = fileURLToPath(new URL('../../bench/results/memory.json', import.meta.url));

// ---------------------------------------------------------------------------------------------
// The child: one server, measured on request.

const hello: GatewayApp = (env) => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: `hello ${env.remoteAddr}` });

async function child(name: ServerName): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined || process.send === undefined) throw new Error('the server child needs --expose-gc and IPC');
  const fixed = proxyFix(hello, { xFor: 1, trusted: ['loopback'] });
  let server: http.Server;
  if (name === 'serve(proxyFix)') {
    const running = await serve(fixed, { bind: '127.0.0.1:0', keepAliveTimeout: KEEP_ALIVE_MS, accessLog: false, log: false });
    server = running.servers[0]!;
  } else {
    server = http.createServer(name === 'node:http' ? (req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(`hello ${req.socket.remoteAddress}`);
    } : toNodeListener(fixed));
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }
  let open = 0;
  server.on('connection', (socket: net.Socket) => {
    open++;
    socket.once('close', () => { open--; });
  });
  process.on('message', (message) => {
    if (message !== 'measure') return;
    // Collect until nothing more goes: finalizers and weak maps free more on a second pass.
    gc();
    setImmediate(() => {
      gc();
      gc();
      const usage = process.memoryUsage();
      process.send!({ rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, open } satisfies Memory);
    });
  });
  process.send({ port: (server.address() as net.AddressInfo).port });
}

// ---------------------------------------------------------------------------------------------
// The parent: connections, rounds, the table.

/** A raw keep-alive connection that sends a request when asked and resolves with the answer's status. */
class Connection {
  readonly socket: net.Socket;
  #buffer = '';
  #waiting: ((status: string) => void) | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      const end = this.#buffer.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(this.#buffer.slice(0, end));
      if (end === -1 || length === null || this.#buffer.length < end + 4 + Number(length[1])) return;
      const status = this.#buffer.slice(9, 12);
      this.#buffer = '';
      this.#waiting?.(status);
    });
    socket.on('close', () => this.#waiting?.('closed'));
    socket.on('error', () => {});
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  request(n: number): Promise<string> {
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.socket.write(`GET / HTTP/1.1\r\nHost: bench.test\r\nX-Forwarded-For: 198.18.${(n >> 8) & 255}.${n & 255}\r\n\r\n`);
    });
  }
}

async function inBatches<T>(count: number, each: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += BATCH) {
    results.push(...await Promise.all(Array.from({ length: Math.min(BATCH, count - start) }, (_, j) => each(start + j))));
  }
  return results;
}

function next<T>(worker: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the server child exited (${code})`));
    worker.once('exit', onExit);
    worker.once('message', (message) => {
      worker.off('exit', onExit);
      resolve(message as T);
    });
  });
}

interface Sample {
  rssPerConnection: number;
  heapPerConnection: number;
  externalPerConnection: number;
  held: number;
  answeredAgain: number;
}

async function measure(name: ServerName): Promise<Sample> {
  const worker = fork(SELF, ['--serve', name], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const { port } = await next<{ port: number }>(worker);
    const report = () => {
      const answer = next<Memory>(worker);
      worker.send('measure');
      return answer;
    };
    // The warm-up compiles the request path and fills the caches a first request fills.
    const warm = await inBatches(WARM_UP_CONNECTIONS, () => Connection.open(port));
    for (let i = 0; i < WARM_UP_REQUESTS; i++) await Promise.all(warm.map((c, n) => c.request(n)));
    for (const c of warm) c.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = await report();

    const held = await inBatches(CONNECTIONS, async (n) => {
      const c = await Connection.open(port);
      const status = await c.request(n);
      if (status !== '200') throw new Error(`${name}: connection ${n} was answered ${status}`);
      return c;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await report();
    if (after.open !== CONNECTIONS) throw new Error(`${name}: ${after.open} connections open, expected ${CONNECTIONS}`);

    const again = await inBatches(CONNECTIONS, (n) => held[n]!.request(n));
    for (const c of held) c.socket.destroy();
    return {
      rssPerConnection: (after.rss - before.rss) / CONNECTIONS,
      heapPerConnection: (after.heapUsed - before.heapUsed) / CONNECTIONS,
      externalPerConnection: (after.external - before.external) / CONNECTIONS,
      held: after.open,
      answeredAgain: again.filter((status) => status === '200').length,
    };
  } finally {
    worker.kill('SIGKILL');
  }
}

const kb = (bytes: number) => (bytes / 1024).toFixed(2);

function fdLimit(): number {
  const text = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
  return text === 'unlimited' ? Infinity : Number(text);
}

async function main(): Promise<void> {
  const limit = fdLimit();
  if (limit < CONNECTIONS + 200) {
    process.stderr.write(`bench:memory holds ${CONNECTIONS} connections, but the file-descriptor limit is ${limit}.\n` +
      `Raise it in this shell (at most to \`ulimit -Hn\`) and run again:  ulimit -n ${CONNECTIONS * 2 + 1000}\n`);
    process.exitCode = 1;
    return;
  }
  const load = [loadavg().map((n) => n.toFixed(2)).join(' ')];
  const samples = new Map<ServerName, Sample[]>(SERVERS.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // The order rotates each round, so drift on a shared machine lands on every server alike.
    for (let i = 0; i < SERVERS.length; i++) {
      const name = SERVERS[(i + round) % SERVERS.length]!;
      const sample = await measure(name);
      samples.get(name)!.push(sample);
      process.stdout.write(`round ${round + 1}: ${name}: RSS ${kb(sample.rssPerConnection)} KiB, heap ${kb(sample.heapPerConnection)} KiB ` +
        `per connection; ${sample.held} held, ${sample.answeredAgain} answered again\n`);
    }
  }
  load.push(loadavg().map((n) => n.toFixed(2)).join(' '));

  const base = samples.get('node:http')!;
  const rows = SERVERS.map((name) => {
    const list = samples.get(name)!;
    const rss = median(list.map((s) => s.rssPerConnection));
    const heap = median(list.map((s) => s.heapPerConnection));
    return {
      server: name,
      rssKiB: rss / 1024,
      rssRangeKiB: [Math.min(...list.map((s) => s.rssPerConnection)) / 1024, Math.max(...list.map((s) => s.rssPerConnection)) / 1024],
      rssVsNode: rss / median(base.map((s) => s.rssPerConnection)),
      heapKiB: heap / 1024,
      heapVsNode: heap / median(base.map((s) => s.heapPerConnection)),
      externalKiB: median(list.map((s) => s.externalPerConnection)) / 1024,
      held: Math.min(...list.map((s) => s.held)),
      answeredAgain: Math.min(...list.map((s) => s.answeredAgain)),
    };
  });
  const fixed = (n: number) => n.toFixed(2);
  const table = [
    '| server | RSS KiB/conn (median) | min–max | RSS vs node:http | heap KiB/conn (median) | heap vs node:http | external KiB/conn | held / answered again (least of the rounds) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.server} | ${fixed(r.rssKiB)} | ${r.rssRangeKiB.map(fixed).join('–')} | ${fixed(r.rssVsNode)} | ` +
      `${fixed(r.heapKiB)} | ${fixed(r.heapVsNode)} | ${fixed(r.externalKiB)} | ${r.held} / ${r.answeredAgain} |`),
  ];
  process.stdout.write(`\n${table.join('\n')}\n`);

  const method = [
    `Each server runs compiled (\`tsc -p tsconfig.build.json\`) in a child process of its own, started with \`--expose-gc\`, on 127.0.0.1, with a keep-alive timeout of ${KEEP_ALIVE_MS / 1000} s: raw node:http answering \`hello <peer>\`; node:http serving \`toNodeListener(proxyFix(app))\`; \`serve(proxyFix(app))\` with the access log off, which is what \`proxyfix serve --x-for 1 --trusted loopback --no-access-log\` runs. The proxyFix options are \`{ xFor: 1, trusted: ['loopback'] }\`, and every request carries an \`X-Forwarded-For\`.`,
    `Warm-up: ${WARM_UP_CONNECTIONS} connections × ${WARM_UP_REQUESTS} requests, then closed. The server then reports RSS, heap used and external memory after three full garbage collections.`,
    `${CONNECTIONS.toLocaleString('en')} connections (opened ${BATCH} at a time) each send one GET and read its 200, then stay open and idle. Half a second later the server reports again, and counts its open connections (it must be all of them). The figure per connection is the difference over ${CONNECTIONS.toLocaleString('en')}.`,
    'Each held connection is then sent a second request: the last column counts those answered, which shows none was closed while idle.',
    `${ROUNDS} rounds, the servers' order rotated each round; figures are the medians. \`ulimit -n\` was ${limit}.`,
  ];
  mkdirSync(dirname(JSON_FILE), { recursive: true });
  writeFileSync(JSON_FILE, `${JSON.stringify({ recorded: new Date().toISOString(), load, method, rows, table }, null, 2)}\n`);
  process.stdout.write(`\nwritten to bench/results/memory.json\n`);
}

const serverIndex = process.argv.indexOf('--serve');
if (serverIndex !== -1) {
  void child(process.argv[serverIndex + 1] as ServerName);
} else {
  void main();
}
