/**
 * `npm run bench`: every benchmark in turn, then bench/RESULTS.md from what they recorded.
 *
 * - micro (bench/micro.ts): ns per request for proxyFix and its peers, one process, same inputs;
 * - server (bench/server.ts): req/s, p99 and CPU per request through real HTTP, wrk on one core;
 * - memory (bench/memory.ts): RSS per idle keep-alive connection at 10,000 connections;
 * - proxy-protocol (bench/proxy-protocol.ts): keep-alive throughput with the PROXY protocol on and off.
 *
 * Each runs as a child process of its own (the memory one with the file-descriptor limit raised to
 * the hard limit) and writes bench/results/<name>.json; this script then reads them, checks each of
 * the targets of issue 11 against its goal, and writes RESULTS.md with the machine and the way to
 * reproduce. BENCH_ONLY=micro,server runs some of them; the others keep their last recorded JSON
 * (an empty BENCH_ONLY runs none, and only writes RESULTS.md again).
 * The benchmarks' own variables (BENCH_ROUNDS, BENCH_SECONDS, …) reach them unchanged.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { serverTable, type ServerResults } from './server.js';

const BENCHES = ['micro', 'server', 'memory', 'proxy-protocol'] as const;
type Bench = (typeof BENCHES)[number];

const DIST = new URL('./', import.meta.url);
const RESULTS = new URL('../../bench/results/', import.meta.url);
const MARKDOWN = new URL('../../bench/RESULTS.md', import.meta.url);

function runBench(name: Bench): void {
  const script = fileURLToPath(new URL(`${name}.js`, DIST));
  // The memory benchmark holds 10,000 sockets in each of two processes.
  const [command, args] = name === 'memory'
    ? ['sh', ['-c', `ulimit -n "$(ulimit -Hn)" && exec "$0" "$1"`, process.execPath, script]]
    : [process.execPath, [script]];
  console.log(`\n== ${name} ==`);
  const result = spawnSync(command, args as string[], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`bench/${name} failed (exit ${result.status ?? result.signal})`);
}

/** A benchmark's recorded JSON, or `undefined` when it has never run. */
function recorded<T>(name: Bench): T | undefined {
  const file = new URL(`${name}.json`, RESULTS);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as T : undefined;
}

/** One target of issue 11: a figure from a run against its goal. */
export interface Target {
  name: string;
  goal: string;
  /** The figure, as a ratio (or a factor); `undefined` when its benchmark has not run. */
  value: number | undefined;
  met: boolean | undefined;
  /** Where the figure comes from. */
  from: string;
}

interface MemoryResults { recorded: string; method: string[]; rows: { server: string; rssVsNode: number }[]; table: string[] }
interface MicroResults { recorded: string; markdown: string | string[]; targets?: { name: string; goal: string; ratio: number; met: boolean }[] }
interface ProxyProtocolResults { recorded: string; markdown: string | string[]; ratio?: number }

const atLeast = (goal: number) => (value: number) => value >= goal;
const atMost = (goal: number) => (value: number) => value <= goal;

function target(name: string, goal: string, value: number | undefined, meets: (value: number) => boolean, from: string): Target {
  return { name, goal, value, met: value === undefined ? undefined : meets(value), from };
}

/** The server and memory targets, from their rows. */
function serverTargets(server: ServerResults | undefined, memory: MemoryResults | undefined): Target[] {
  const row = (name: string) => server?.rows.find((r) => r.server === name);
  const targets = [
    target('`proxyfix serve` with proxyFix, req/s vs raw node:http', '≥ 0.90', row('serve proxyFix')?.vsRaw, atLeast(0.9), 'server'),
    target('… with the access log on', '≥ 0.80', row('serve proxyFix + access log')?.vsRaw, atLeast(0.8), 'server'),
    target('proxyFix inside the built-in server: req/s with it / without it', '≥ 0.97', row('serve proxyFix')?.vsAlone, atLeast(0.97), 'server'),
    target('… the same, in CPU µs per request: with it / without it', '≤ 1.03', row('serve proxyFix')?.cpuVsAlone, atMost(1.03), 'server'),
  ];
  for (const name of ['express proxyFixNode', 'express app.use(proxyFixExpress)', 'koa proxyFixNode', 'fastify serverFactory+proxyFixNode', 'hono proxyFixFetch']) {
    targets.push(target(`adapter \`${name}\`: req/s vs the framework alone`, '≥ 0.95', row(name)?.vsAlone, atLeast(0.95), 'server'));
  }
  const express = row('express trust proxy');
  const serve = row('serve proxyFix');
  targets.push(target('`proxyfix serve` with proxyFix against Express 5 with `trust proxy`: req/s factor', '≥ 6', serve && express && serve.rps / express.rps, atLeast(6), 'server'));
  targets.push(target('memory per idle connection, `serve(proxyFix)` vs raw node:http (RSS)', '≤ 1.2',
    memory?.rows.find((r) => r.server === 'serve(proxyFix)')?.rssVsNode, atMost(1.2), 'memory'));
  return targets;
}

const lines = (text: string | string[]) => (Array.isArray(text) ? text : text.split('\n'));

function writeResults(): Target[] {
  const micro = recorded<MicroResults>('micro');
  const server = recorded<ServerResults>('server');
  const memory = recorded<MemoryResults>('memory');
  const proxyProtocol = recorded<ProxyProtocolResults>('proxy-protocol');
  const targets: Target[] = [
    ...(micro?.targets ?? []).map((t) => ({ name: t.name, goal: t.goal, value: t.ratio, met: t.met, from: 'micro' })),
    ...serverTargets(server, memory),
    target('PROXY protocol on, keep-alive req/s vs off', '≥ 0.98', proxyProtocol?.ratio, atLeast(0.98), 'proxy-protocol'),
  ];
  const when = (r: { recorded: string } | undefined) => (r === undefined ? 'not run' : r.recorded.slice(0, 16).replace('T', ' '));
  const out = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: node ${process.version}, ${platform()} ${arch()} ${release()}, ` +
      `${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; load average ` +
      `${loadavg().map((n) => n.toFixed(2)).join(' ')} at the end. Each section says when it was recorded (UTC). ` +
      'Compare ratios within one run, not figures across machines: the machine is shared, and figures from different runs drift.',
    '',
    '## Reproduce',
    '',
    '    npm ci',
    '    sudo apt-get install -y wrk        # the HTTP load generator (Debian\'s package)',
    '    npm run bench                      # everything: about 15 minutes; BENCH_ONLY=micro,server for some',
    '    npm run bench:server               # one at a time: bench:micro, bench:server, bench:memory',
    '',
    '## Targets',
    '',
    '| target | goal | this run | met | from |',
    '|---|---|---:|---|---|',
    ...targets.map((t) => `| ${t.name} | ${t.goal} | ${t.value === undefined ? '–' : t.value.toFixed(3)} | ` +
      `${t.met === undefined ? 'not run' : t.met ? 'yes' : '**no**'} | ${t.from} |`),
    '',
    `## Per request: proxyFix against its peers (bench/micro.ts; recorded ${when(micro)})`,
    '',
    ...(micro === undefined ? ['Not run.'] : lines(micro.markdown)),
    '',
    `## Through real HTTP: the built-in server and the adapters (bench/server.ts; recorded ${when(server)})`,
    '',
    ...(server === undefined ? ['Not run.'] : [
      ...server.method.map((line) => `- ${line}`),
      '',
      '"vs framework alone" is req/s over the same framework with no proxy handling (for node:http, raw node; for `serve`, ' +
        '`serve` without proxyFix); "vs its own proxy handling" is over the framework\'s `trust proxy` and the like. ' +
        `Load average ${server.loadBefore.join(' ')} before, ${server.loadAfter.join(' ')} after; ${server.seconds} s of measuring.`,
      '',
      ...serverTable(server.rows),
      '',
      '### Profiles',
      '',
      ...server.profiles,
    ]),
    '',
    `## Memory per idle keep-alive connection (bench/memory.ts; recorded ${when(memory)})`,
    '',
    ...(memory === undefined ? ['Not run.'] : [...memory.method.map((line) => `- ${line}`), '', ...memory.table]),
    '',
    `## PROXY protocol on and off (bench/proxy-protocol.ts; recorded ${when(proxyProtocol)})`,
    '',
    ...(proxyProtocol === undefined ? ['Not run.'] : lines(proxyProtocol.markdown)),
    '',
  ];
  writeFileSync(MARKDOWN, out.join('\n'));
  return targets;
}

function main(): void {
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of only ?? []) {
    if (!(BENCHES as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: no benchmark named ${JSON.stringify(name)}; one of: ${BENCHES.join(', ')}`);
  }
  for (const name of BENCHES) if (only === undefined || only.includes(name)) runBench(name);
  const targets = writeResults();
  console.log(`\n${targets.map((t) => `${t.met === undefined ? '  -' : t.met ? ' ok' : 'MISS'}  ${t.name}: ${t.value?.toFixed(3) ?? 'not run'} (goal ${t.goal})`).join('\n')}`);
  console.log('\nwrote bench/RESULTS.md');
}

main();
