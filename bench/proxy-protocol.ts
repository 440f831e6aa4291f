/**
 * What `serve({ proxyProtocol })` costs on keep-alive connections: requests per second and CPU per
 * request of the built-in server behind a layer-4 balancer, with and without the PROXY protocol.
 *
 * wrk cannot send a PROXY header (it has no per-connection hook), so the balancer is a real one:
 * HAProxy in `mode tcp`, with `send-proxy-v2` in front of `serve` with the option, and without it in
 * front of `serve` without. Everything else is the same, so the ratio is the option's cost: one
 * header per connection, then the same node parser on the same socket. wrk and HAProxy share one
 * core, the server has the other; rounds are interleaved (the order rotating each round) so drift on
 * a shared machine lands on both alike, and medians are compared. The server's CPU time per request
 * moves less than req/s when other work shares the machine. (taskset execs node in place, so the
 * child's pid is the server's.)
 *
 *     tsc -p tsconfig.build.json && node dist/bench/proxy-protocol.js
 *
 * `benchProxyProtocol()` runs it and returns the rows (for bench/run.ts). Tunable: BENCH_ROUNDS
 * (default 5), BENCH_SECONDS (default 2 per wrk run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GatewayEnv } from '../src/gateway.js';
import { serve } from '../src/server/serve.js';
import { cpuMicroseconds, median, wrk } from './fixtures/measure.js';


const CONNECTIONS = 32;
const WRK_CORE = '0';
const WRK = { core: WRK_CORE, connections: CONNECTIONS };
const SERVER_CORE = '1';

export interface ProxyProtocolRow {
  /** `serve` or `serve proxyProtocol`. */
  server: string;
  rps: number;
  /** Server CPU microseconds per request. */
  cpuUs: number;
  /** This row's req/s over the row without the option, the median of the rounds' ratios (1 for that one). */
  ratio: number;
  /** The same for CPU per request: it moves less than req/s when other work shares the machine. */
  cpuRatio: number;
}

interface Arm {
  name: string;
  on: boolean;
  server: ChildProcess;
  balancer: ChildProcess;
  port: number;
  rps: number[];
  cpuUs: number[];
}

/** In the child: serve a tiny app, with or without the option, and print the port. */
async function child(on: boolean): Promise<void> {
  const running = await serve(
    (env: GatewayEnv) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: env.ext['proxyfix.proxyProtocol'] === undefined ? 'plain' : 'pp' }),
    { bind: '127.0.0.1:0', accessLog: false, log: false, ...(on ? { proxyProtocol: { trusted: ['loopback'] } } : {}) },
  );
  process.stdout.write(`listening ${running.addresses[0]!.split(':').pop()}\n`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function startServer(on: boolean): Promise<{ server: ChildProcess; port: number }> {
  const server = spawn('taskset', ['-c', SERVER_CORE, process.execPath, fileURLToPath(import.meta.url), 'serve', on ? 'on' : 'off'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    server.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match !== null) resolve({ server, port: Number(match[1]) });
    });
    server.once('exit', (code) => reject(new Error(`the server exited with ${code} before listening`)));
  });
}

async function startBalancer(dir: string, name: string, serverPort: number, on: boolean): Promise<{ balancer: ChildProcess; port: number }> {
  const port = await freePort();
  const config = join(dir, `${name.replace(/\W+/g, '-')}.cfg`);
  writeFileSync(config, [
    'global', '    nbthread 1', '    maxconn 1024',
    'defaults', '    mode tcp', '    timeout connect 5s', '    timeout client 60s', '    timeout server 60s',
    'frontend l4', `    bind 127.0.0.1:${port}`, '    default_backend app',
    'backend app', `    server app 127.0.0.1:${serverPort}${on ? ' send-proxy-v2' : ''}`, '',
  ].join('\n'));
  const balancer = spawn('taskset', ['-c', WRK_CORE, 'haproxy', '-f', config, '-db'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let tries = 0; ; tries++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return { balancer, port };
    if (tries > 500) throw new Error('HAProxy does not listen');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function answer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Run the benchmark; `log` gets progress lines. Resolves with a row per server. */
export async function benchProxyProtocol(
  { rounds = Number(process.env.BENCH_ROUNDS ?? 5), seconds = Number(process.env.BENCH_SECONDS ?? 2), log = (line: string) => console.error(line) } = {},
): Promise<ProxyProtocolRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-bench-pp-'));
  const arms: Arm[] = [];
  try {
    for (const [name, on] of [['serve', false], ['serve proxyProtocol', true]] as const) {
      const { server, port: serverPort } = await startServer(on);
      const { balancer, port } = await startBalancer(dir, name, serverPort, on);
      arms.push({ name, on, server, balancer, port, rps: [], cpuUs: [] });
      const said = await answer(port);
      if (said !== (on ? 'pp' : 'plain')) throw new Error(`${name} answered ${JSON.stringify(said)}: the header did not arrive as planned`);
      await wrk(port, 1, WRK); // warm-up
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? arms : [...arms].reverse();
      for (const arm of order) {
        const before = cpuMicroseconds(arm.server.pid!);
        const { rps, requests } = await wrk(arm.port, seconds, WRK);
        arm.rps.push(rps);
        arm.cpuUs.push((cpuMicroseconds(arm.server.pid!) - before) / requests);
        log(`round ${round + 1}/${rounds}: ${arm.name}: ${rps.toFixed(0)} req/s`);
      }
    }
  } finally {
    for (const arm of arms) {
      arm.server.kill('SIGTERM');
      arm.balancer.kill('SIGTERM');
    }
    rmSync(dir, { recursive: true, force: true });
  }
  // Each round measured both back to back: the ratio of a round's pair drifts less than the medians do.
  const [off] = arms;
  const paired = (arm: Arm, of: (a: Arm) => number[]) => median(of(arm).map((value, round) => value / of(off!)[round]!));
  return arms.map((arm) => ({
    server: arm.name, rps: median(arm.rps), cpuUs: median(arm.cpuUs), ratio: paired(arm, (a) => a.rps), cpuRatio: paired(arm, (a) => a.cpuUs),
  }));
}

if (process.argv[2] === 'serve') {
  await child(process.argv[3] === 'on');
} else if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const rows = await benchProxyProtocol();
  const on = rows[1]!;
  const markdown = [
    `Keep-alive through HAProxy 2.6 in \`mode tcp\` (with \`send-proxy-v2\` in front of \`serve\` with the option, without it in ` +
      `front of \`serve\` without), wrk \`-c${CONNECTIONS}\` and HAProxy on core ${WRK_CORE}, the server on core ${SERVER_CORE}; ` +
      'rounds interleaved, each round\'s pair compared, medians.',
    '',
    '| server | req/s | CPU µs/req | req/s vs without | CPU/req vs without |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((row) => `| ${row.server} | ${row.rps.toFixed(0)} | ${row.cpuUs.toFixed(1)} | ${row.ratio.toFixed(3)} | ${row.cpuRatio.toFixed(3)} |`),
  ];
  console.log(markdown.join('\n'));
  const file = fileURLToPath(new URL('../../bench/results/proxy-protocol.json', import.meta.url));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ recorded: new Date().toISOString(), markdown, ratio: on.ratio, cpuRatio: on.cpuRatio, rows }, null, 2)}\n`);
  console.log('wrote bench/results/proxy-protocol.json');
}
