/**
 * `npm run bench:server` (and part of `npm run bench`): requests per second, p99 latency and CPU
 * per request through real HTTP, for the built-in server and for each adapter against its
 * framework, all in the same run. Prints a table and writes bench/results/server.json, which
 * bench/run.ts turns into bench/RESULTS.md.
 *
 * A micro-benchmark of the proxyFix walk (bench/micro.ts) says nothing about what a user pays: the
 * adapters build an env, present it to node's request and hand over to the framework, and a
 * framework's own `trust proxy` does work too. So each server here is a compiled child process
 * (bench/fixtures/servers.ts) on its own core, loaded by wrk on the other core over keep-alive
 * connections, with the forwarding headers a proxy would send. Rounds are interleaved (the order
 * rotating each round) so that drift on a shared machine lands on every server alike; compare the
 * ratios of one run, not figures across machines. The server's CPU time per request is recorded
 * beside req/s: it moves much less when other work shares the machine. The slowest proxyfix path,
 * and the one that costs most CPU against its framework, are then profiled with `node --cpu-prof`
 * beside that framework alone; their top self-time functions in proxyfix's code, and where the
 * extra CPU per request goes, are recorded.
 *
 * Tunable: BENCH_ROUNDS (default 5), BENCH_SECONDS (default 2 per wrk run), BENCH_SERVERS (server
 * names, comma-separated, to measure only those and the ones they are compared with),
 * BENCH_PROFILE (server names to profile as well; with BENCH_ROUNDS=0 only those are profiled).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { SourceMap } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicroseconds, median, wrk } from './fixtures/measure.js';


const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const WARMUP_SECONDS = 1;
const PROFILE_SECONDS = 4;
const PROFILE_INTERVAL_US = 100;
const CONNECTIONS = 32;
// wrk on core 0, every server on core 1: neither steals the other's time.
const WRK_CORE = '0';
const SERVER_CORE = '1';

const FORWARDED: Record<string, string> = {
  'X-Forwarded-For': '203.0.113.7',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'example.com',
};
const WRK = { core: WRK_CORE, connections: CONNECTIONS, headers: FORWARDED };

/**
 * What a server is in its group: the floor (raw node:http), a framework (or `serve`) alone with no
 * proxy handling, the framework's own proxy handling, or proxyfix doing that job.
 */
type Role = 'baseline' | 'alone' | 'native' | 'proxyfix';
interface Case {
  group: string;
  /** The server's name in bench/fixtures/servers.ts. */
  server: string;
  role: Role;
  /** Whether it handles the forwarding headers, and so must answer the forwarded values. */
  fixes: boolean;
}

const ALL_CASES: Case[] = [
  { group: 'node:http', server: 'node raw', role: 'baseline', fixes: false },
  { group: 'node:http', server: 'node proxyFixNode', role: 'proxyfix', fixes: true },
  { group: 'node:http', server: 'gateway toNodeListener(proxyFix)', role: 'proxyfix', fixes: true },
  { group: 'proxyfix serve', server: 'serve alone', role: 'alone', fixes: false },
  { group: 'proxyfix serve', server: 'serve proxyFix', role: 'proxyfix', fixes: true },
  { group: 'proxyfix serve, access log', server: 'serve alone + access log', role: 'alone', fixes: false },
  { group: 'proxyfix serve, access log', server: 'serve proxyFix + access log', role: 'proxyfix', fixes: true },
  { group: 'Express 5', server: 'express alone', role: 'alone', fixes: false },
  { group: 'Express 5', server: 'express trust proxy', role: 'native', fixes: true },
  { group: 'Express 5', server: 'express proxyFixNode', role: 'proxyfix', fixes: true },
  { group: 'Express 5', server: 'express app.use(proxyFixExpress)', role: 'proxyfix', fixes: true },
  { group: 'Koa 3', server: 'koa alone', role: 'alone', fixes: false },
  { group: 'Koa 3', server: 'koa app.proxy', role: 'native', fixes: true },
  { group: 'Koa 3', server: 'koa proxyFixNode', role: 'proxyfix', fixes: true },
  { group: 'Fastify 5', server: 'fastify alone', role: 'alone', fixes: false },
  { group: 'Fastify 5', server: 'fastify trustProxy', role: 'native', fixes: true },
  { group: 'Fastify 5', server: 'fastify serverFactory+proxyFixNode', role: 'proxyfix', fixes: true },
  { group: 'Hono 4', server: 'hono getConnInfo (no proxy handling)', role: 'alone', fixes: false },
  { group: 'Hono 4', server: 'hono proxyFixFetch', role: 'proxyfix', fixes: true },
];

/** The server a proxyfix row is weighed against: its framework alone (for node:http, raw node). */
const aloneOf = (c: Case) => ALL_CASES.find((other) => other.group === c.group && (other.role === 'alone' || other.role === 'baseline'))!;
/** The framework's own proxy handling, where it has one. */
const nativeOf = (c: Case) => ALL_CASES.find((other) => other.group === c.group && other.role === 'native');

/** The servers measured: BENCH_SERVERS and those they are compared with, or every one. */
const CASES: Case[] = (() => {
  const named = process.env.BENCH_SERVERS?.split(',').map((name) => name.trim()).filter((name) => name !== '') ?? [];
  if (named.length === 0) return ALL_CASES;
  const chosen = new Set<Case>([ALL_CASES[0]!]);
  for (const name of named) {
    const c = ALL_CASES.find((other) => other.server === name);
    if (c === undefined) throw new Error(`no server named ${JSON.stringify(name)}; one of: ${ALL_CASES.map((other) => other.server).join(', ')}`);
    chosen.add(c).add(aloneOf(c));
    const native = nativeOf(c);
    if (native !== undefined) chosen.add(native);
  }
  return ALL_CASES.filter((c) => chosen.has(c));
})();

const SERVER_SCRIPT = fileURLToPath(new URL('./fixtures/servers.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Running {
  child: ChildProcess;
  port: number;
}

function start(server: string, nodeFlags: string[] = []): Promise<Running> {
  const child = spawn('taskset', ['-c', SERVER_CORE, process.execPath, ...nodeFlags, SERVER_SCRIPT, server], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match !== null) resolve({ child, port: Number(match[1]) });
    });
    child.once('exit', (code) => reject(new Error(`server ${server} exited with ${code} before listening`)));
  });
}

/** SIGTERM lets a server exit cleanly, which `--cpu-prof` needs to write its profile. */
function stop({ child }: Running): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hung = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(hung);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** One request with the forwarding headers: what the server answers, so a pair is known to agree. */
function probe(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: FORWARDED, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function check(c: Case, port: number): Promise<void> {
  const { status, body } = await probe(port);
  const expected = c.fixes
    ? { ip: '203.0.113.7', protocol: 'https', host: 'example.com' }
    : { ip: '127.0.0.1', protocol: 'http', host: `127.0.0.1:${port}` };
  const got = status === 200 ? JSON.parse(body) as Record<string, unknown> : {};
  const wrong = Object.entries(expected).filter(([key, value]) => got[key] !== value);
  if (wrong.length > 0) {
    throw new Error(`${c.server} answered ${status} ${body}, expected ${JSON.stringify(expected)}: it would not be measuring the same work`);
  }
}

interface Sample {
  rps: number;
  /** wrk's 99th percentile latency. */
  p99Ms: number;
  /** The server's CPU time per request: other work on the machine moves it much less than req/s. */
  cpuUs: number;
}

/** Load a server with wrk for `seconds`; its req/s and the CPU it spent per request. */
async function load(server: Running, seconds: number): Promise<Sample> {
  const cpuBefore = cpuMicroseconds(server.child.pid!);
  const { rps, requests, p99Ms } = await wrk(server.port, seconds, WRK);
  return { rps, p99Ms, cpuUs: (cpuMicroseconds(server.child.pid!) - cpuBefore) / requests };
}

/** wrk's version line; `wrk --version` exits 1 after printing it. */
function wrkVersion(): string {
  const printed = spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout;
  return (/^wrk \S+/.exec(printed) ?? ['wrk'])[0];
}


// ---------------------------------------------------------------------------------------------
// Profile: self and total time per function, proxyfix's own code mapped back to src/*.ts.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface FunctionTime {
  name: string;
  where: string;
  ours: boolean;
  self: number;
  total: number;
}

const sourceMaps = new Map<string, SourceMap | null>();
function mapped(url: string, line: number, column: number): string | undefined {
  if (!sourceMaps.has(url)) {
    let map: SourceMap | null = null;
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')));
    } catch { /* no map: keep the JS location */ }
    sourceMaps.set(url, map);
  }
  const entry = sourceMaps.get(url)?.findEntry(line, column) as { originalSource?: string; originalLine?: number } | undefined;
  if (entry?.originalSource === undefined) return undefined;
  return `${fileURLToPath(new URL(entry.originalSource, url)).slice(ROOT.length)}:${entry.originalLine! + 1}`;
}

function locate(frame: ProfileNode['callFrame']): { where: string; ours: boolean } {
  const { url, lineNumber, columnNumber } = frame;
  const ours = url.includes('/dist/src/');
  if (url === '') return { where: '', ours };
  if (!url.startsWith('file:')) return { where: `${url}:${lineNumber + 1}`, ours };
  const path = fileURLToPath(url);
  return {
    where: (ours ? mapped(url, lineNumber, columnNumber) : undefined)
      ?? `${path.replace(/^.*\/node_modules\//, '').replace(ROOT, '')}:${lineNumber + 1}`,
    ours,
  };
}

/** Time per function (keyed by name and place), in per cent of the busy samples. */
function readProfile(file: string, windows: readonly (readonly [number, number])[]): { functions: FunctionTime[]; busySamples: number; oursSelf: number; oursTotal: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = new Map<number, string>();
  const functions = new Map<string, FunctionTime>();
  for (const node of profile.nodes) {
    const { where, ours } = locate(node.callFrame);
    const name = node.callFrame.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    keyOf.set(node.id, key);
    if (!functions.has(key)) functions.set(key, { name, where, ours, self: 0, total: 0 });
  }
  let busySamples = 0;
  let oursSelfSamples = 0;
  let oursTotalSamples = 0;
  // V8 stamps samples with the monotonic clock process.hrtime reads, so the load window can be cut
  // out of the whole process's profile: start-up, module loading and the warm-up stay out of it.
  let time = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i]!;
    if (!windows.some(([from, to]) => time >= from && time <= to)) continue;
    const id = profile.samples[i]!;
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === '(idle)') continue;
    busySamples++;
    const self = functions.get(keyOf.get(id)!)!;
    self.self++;
    if (self.ours) oursSelfSamples++;
    // Total time: every function on the stack once, however often it recurs.
    const seen = new Set<string>();
    let anyOurs = false;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf.get(at)!;
      if (seen.has(key)) continue;
      seen.add(key);
      const fn = functions.get(key)!;
      fn.total++;
      anyOurs ||= fn.ours;
    }
    if (anyOurs) oursTotalSamples++;
  }
  const pct = (n: number) => (100 * n) / busySamples;
  const list = [...functions.values()].map((fn) => ({ ...fn, self: pct(fn.self), total: pct(fn.total) }));
  return { functions: list, busySamples, oursSelf: pct(oursSelfSamples), oursTotal: pct(oursTotalSamples) };
}

const microseconds = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Profile servers side by side: each runs under `--cpu-prof`, and the load alternates between them
 * one second at a time, so that other work on the machine weighs on each alike. Only the samples
 * taken while a server was under load count.
 */
async function profileServers(cases: readonly Case[]): Promise<Profile[]> {
  const dirs = cases.map(() => mkdtempSync(join(tmpdir(), 'proxyfix-prof-')));
  try {
    const servers: Running[] = [];
    const windows = cases.map(() => [] as [number, number][]);
    const cpu = cases.map(() => ({ us: 0, requests: 0, seconds: 0 }));
    try {
      for (const [i, c] of cases.entries()) {
        servers.push(await start(c.server, ['--cpu-prof', '--cpu-prof-dir', dirs[i]!, '--cpu-prof-interval', String(PROFILE_INTERVAL_US)]));
        await check(c, servers[i]!.port);
        await wrk(servers[i]!.port, WARMUP_SECONDS, WRK);
      }
      for (let second = 0; second < PROFILE_SECONDS; second++) {
        for (const [i, server] of servers.entries()) {
          const from = microseconds();
          const cpuBefore = cpuMicroseconds(server.child.pid!);
          const { requests } = await wrk(server.port, 1, WRK);
          const to = microseconds();
          cpu[i]!.us += cpuMicroseconds(server.child.pid!) - cpuBefore;
          cpu[i]!.requests += requests;
          cpu[i]!.seconds += (to - from) / 1e6;
          windows[i]!.push([from, to]);
        }
      }
    } finally {
      await Promise.all(servers.map(stop));
    }
    return cases.map((c, i) => {
      const file = readdirSync(dirs[i]!).find((name) => name.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`${c.server} wrote no .cpuprofile`);
      const { us, requests, seconds } = cpu[i]!;
      return { ...readProfile(join(dirs[i]!, file), windows[i]!), rps: requests / seconds, cpuUs: us / requests };
    });
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

type Profile = ReturnType<typeof readProfile> & { rps: number; cpuUs: number };

/**
 * A profile as markdown: proxyfix's own functions first, then everything, for scale; with the
 * framework's own profile, where the extra CPU per request goes, function by function.
 */
function describeProfile(c: Case, profile: Profile, native?: { c: Case; profile: Profile }): string[] {
  const us = (pct: number, of: Profile = profile) => (pct / 100) * of.cpuUs;
  const fnRow = (fn: FunctionTime) => `| ${fn.name} | ${fn.where} | ${fn.self.toFixed(1)} | ${us(fn.self).toFixed(2)} | ${fn.total.toFixed(1)} |`;
  const fnHead = ['| function | where | self % | self µs/req | total % |', '|---|---|---:|---:|---:|'];
  const ours = profile.functions.filter((fn) => fn.ours);
  const lines = [
    `### ${c.server}`,
    '',
    `${PROFILE_SECONDS}s of the same wrk load (in 1s turns) under \`node --cpu-prof --cpu-prof-interval ${PROFILE_INTERVAL_US}\`, ` +
      `after ${WARMUP_SECONDS}s of warm-up (${profile.rps.toFixed(0)} req/s and ${profile.cpuUs.toFixed(1)} CPU µs/req while profiled, ` +
      `the profiler's own cost included). Only samples taken during the load count: ${profile.busySamples}, idle excluded; ` +
      'percentages are of those. Self % is time in the function itself, total % includes what it calls; self µs/req is ' +
      'self % of the CPU µs/req.',
    '',
    `proxyfix's own code (dist/src, mapped back to src/*.ts by its source maps): ${profile.oursSelf.toFixed(1)}% self ` +
      `(${us(profile.oursSelf).toFixed(2)} µs/req); ${profile.oursTotal.toFixed(1)}% of samples have a proxyfix function on the ` +
      'stack (an upper bound: the framework and the handler run beneath proxyfix\'s frames).',
    '',
    'Top self time in proxyfix\'s src:',
    '',
    ...fnHead,
    ...ours.filter((fn) => fn.self > 0).sort((a, b) => b.self - a.self).slice(0, 12).map(fnRow),
    '',
    'Top total time in proxyfix\'s src (where its time goes from):',
    '',
    ...fnHead,
    ...ours.sort((a, b) => b.total - a.total).slice(0, 6).map(fnRow),
    '',
  ];
  if (native !== undefined) {
    // Keyed by function and place, so node's and the framework's own functions line up across the two.
    const rows = new Map<string, { name: string; where: string; before: number; after: number }>();
    const row = (fn: FunctionTime) => {
      const key = `${fn.name} ${fn.where}`;
      if (!rows.has(key)) rows.set(key, { name: fn.name, where: fn.where, before: 0, after: 0 });
      return rows.get(key)!;
    };
    for (const fn of native.profile.functions) row(fn).before += us(fn.self, native.profile);
    for (const fn of profile.functions) row(fn).after += us(fn.self);
    const diff = [...rows.values()].sort((x, y) => (y.after - y.before) - (x.after - x.before)).slice(0, 15);
    lines.push(
      `Where the extra CPU goes, against **${native.c.server}** profiled alongside (the load alternating between the two each ` +
        `second; ${native.profile.cpuUs.toFixed(1)} → ${profile.cpuUs.toFixed(1)} CPU µs/req while profiled): self µs/req per ` +
        'function, largest increase first. Node\'s own functions here are work the adapter causes (listeners, promises, ' +
        'streams), except `writev`, the socket write, whose share per request moves with how many responses go out together.',
      '',
      '| function | where | framework µs/req | proxyfix µs/req | Δ µs/req |',
      '|---|---|---:|---:|---:|',
      ...diff.map(({ name, where, before, after }) => `| ${name} | ${where} | ${before.toFixed(2)} | ${after.toFixed(2)} | ${(after - before).toFixed(2)} |`),
      '',
    );
  }
  lines.push(
    'Top self time overall:',
    '',
    ...fnHead,
    ...[...profile.functions].sort((a, b) => b.self - a.self).slice(0, 10).map(fnRow),
    '',
  );
  return lines;
}

/** Profile a proxyfix server and, beside it, its framework alone, for the difference. */
async function profilePair(c: Case, why: string): Promise<string[]> {
  const counterpart = c.role === 'proxyfix' ? aloneOf(c) : undefined;
  const cases = counterpart === undefined ? [c] : [c, counterpart];
  console.log(`profiling ${cases.map((one) => one.server).join(' and ')} for ${PROFILE_SECONDS}s each with --cpu-prof`);
  const [profile, theirs] = await profileServers(cases);
  const lines = describeProfile(c, profile!, theirs === undefined ? undefined : { c: counterpart!, profile: theirs });
  lines.splice(2, 0, `Profiled as ${why}.`, '');
  return lines;
}

async function measure(): Promise<Map<Case, Sample[]>> {
  const servers = new Map<Case, Running>();
  const results = new Map<Case, Sample[]>(CASES.map((c) => [c, []]));
  try {
    for (const c of CASES) {
      const server = await start(c.server);
      servers.set(c, server);
      await check(c, server.port);
    }
    console.log(`warming up ${CASES.length} servers (${WARMUP_SECONDS}s each)`);
    for (const c of CASES) await wrk(servers.get(c)!.port, WARMUP_SECONDS, WRK);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order, so that no server always follows the same neighbour.
      const order = CASES.map((_, i) => CASES[(i + round * 5) % CASES.length]!);
      for (const c of order) {
        const sample = await load(servers.get(c)!, SECONDS);
        results.get(c)!.push(sample);
        console.log(`round ${round + 1}/${ROUNDS}  ${c.server.padEnd(38)} ${sample.rps.toFixed(0).padStart(7)} req/s ` +
          `${sample.cpuUs.toFixed(1).padStart(7)} CPU µs/req ${sample.p99Ms.toFixed(2).padStart(7)} ms p99`);
      }
    }
  } finally {
    await Promise.all([...servers.values()].map(stop));
  }
  return results;
}

/** One server's figures, as bench/results/server.json holds them. */
export interface ServerRow {
  group: string;
  server: string;
  role: Role;
  /** Median req/s of the rounds, and every round's. */
  rps: number;
  rounds: number[];
  p99Ms: number;
  cpuUs: number;
  /** req/s over raw node:http's. */
  vsRaw: number;
  /** For proxyfix rows: req/s over the framework alone (raw node for node:http), and CPU µs/req over its. */
  vsAlone?: number;
  cpuVsAlone?: number;
  /** For proxyfix rows of a framework with its own proxy handling: req/s over that. */
  vsNative?: number;
}

export interface ServerResults {
  recorded: string;
  method: string[];
  rows: ServerRow[];
  /** Markdown: the profiles of the slowest and the costliest proxyfix paths. */
  profiles: string[];
  loadBefore: number[];
  loadAfter: number[];
  seconds: number;
}

async function main(): Promise<void> {
  const named = process.env.BENCH_PROFILE?.split(',').map((name) => name.trim()).filter((name) => name !== '') ?? [];
  if (ROUNDS === 0) {
    // A profile only, of the servers named: a starting point for work on one path.
    for (const name of named) {
      const c = ALL_CASES.find((other) => other.server === name);
      if (c === undefined) throw new Error(`no server named ${JSON.stringify(name)}; one of: ${ALL_CASES.map((other) => other.server).join(', ')}`);
      console.log((await profilePair(c, 'named in BENCH_PROFILE')).join('\n'));
    }
    return;
  }

  const loadBefore = loadavg();
  const began = Date.now();
  const results = await measure();
  const loadAfter = loadavg();

  const rpsOf = new Map(CASES.map((c) => [c, median(results.get(c)!.map((sample) => sample.rps))]));
  const cpuOf = new Map(CASES.map((c) => [c, median(results.get(c)!.map((sample) => sample.cpuUs))]));
  const raw = CASES.find((c) => c.role === 'baseline')!;
  const rows: ServerRow[] = CASES.map((c) => {
    const proxyfix = c.role === 'proxyfix';
    const native = nativeOf(c);
    return {
      group: c.group,
      server: c.server,
      role: c.role,
      rps: rpsOf.get(c)!,
      rounds: results.get(c)!.map((sample) => Math.round(sample.rps)),
      p99Ms: median(results.get(c)!.map((sample) => sample.p99Ms)),
      cpuUs: cpuOf.get(c)!,
      vsRaw: rpsOf.get(c)! / rpsOf.get(raw)!,
      ...(proxyfix ? { vsAlone: rpsOf.get(c)! / rpsOf.get(aloneOf(c))!, cpuVsAlone: cpuOf.get(c)! / cpuOf.get(aloneOf(c))! } : {}),
      ...(proxyfix && native !== undefined ? { vsNative: rpsOf.get(c)! / rpsOf.get(native)! } : {}),
    };
  });
  console.log(`\n${serverTable(rows).join('\n')}\n`);
  const seconds = Math.round((Date.now() - began) / 1000);

  // The slowest proxyfix path, and the one that costs most CPU against its framework alone: the
  // first is where a user waits longest, the second where proxyfix itself weighs most.
  const proxyfixRows = rows.filter((r) => r.role === 'proxyfix');
  const caseOf = (r: ServerRow) => CASES.find((c) => c.server === r.server)!;
  const slowest = caseOf([...proxyfixRows].sort((a, b) => a.rps - b.rps)[0]!);
  const costliest = caseOf([...proxyfixRows].sort((a, b) => b.cpuVsAlone! - a.cpuVsAlone!)[0]!);
  const profiled = [...new Set([slowest, costliest, ...named.map((name) => ALL_CASES.find((c) => c.server === name)!)])];
  const profiles: string[] = [];
  for (const c of profiled) {
    const why = [c === slowest ? 'the slowest proxyfix path (fewest req/s)' : '', c === costliest ? 'the most CPU per request against its framework alone' : '']
      .filter((reason) => reason !== '').join('; ') || 'named in BENCH_PROFILE';
    profiles.push(...await profilePair(c, why));
  }
  console.log(`\n${profiles.join('\n')}`);

  const method = [
    `Each server is compiled JS (\`tsc -p tsconfig.build.json\`, bench/fixtures/servers.ts) in its own child process pinned with ` +
      `\`taskset -c ${SERVER_CORE}\`; wrk is pinned with \`taskset -c ${WRK_CORE}\`: \`${wrkVersion()} -t1 -c${CONNECTIONS} -d${SECONDS}s --latency\`, ` +
      `keep-alive, with ${Object.entries(FORWARDED).map(([name, value]) => `\`${name}: ${value}\``).join(', ')}.`,
    'Every server answers the same tiny JSON `{ ip, protocol, host }` through its framework\'s own API ' +
      '(`req.ip`/`req.protocol`/`req.host`, `ctx.ip`/`ctx.protocol`/`ctx.host`, `request.ip`/`request.protocol`/`request.host`, ' +
      'Hono\'s `getConnInfo(c).remote.address` and `c.req.url`; node\'s `req.socket.remoteAddress`, `encrypted` and `headers.host`; ' +
      'the env\'s `remoteAddr`, `scheme` and `host` for `serve`). Each answer is checked before measuring: the servers that handle ' +
      'the headers must answer 203.0.113.7, https, example.com; the others the socket\'s values. wrk failing any request fails the run.',
    'proxyfix options everywhere: `{ xFor: 1, xProto: 1, xHost: 1, trusted: [\'loopback\'] }`. The frameworks\' own settings: ' +
      'Express `app.set(\'trust proxy\', \'loopback\')`, Koa `app.proxy = true`, Fastify `trustProxy: \'loopback\'`. ' +
      '"alone" is the framework with no proxy handling at all: what the adapter adds is weighed against it. ' +
      '`serve` with the access log writes it to /dev/null with a synchronous write, as `proxyfix serve > access.log` does.',
    `${WARMUP_SECONDS}s of load per server to warm up, then ${ROUNDS} interleaved rounds (every server once per round, the order ` +
      'rotated each round); the figure is the median of the rounds. Ratios are within this run only.',
    '"CPU µs/req" is the server process\'s CPU time (user + system, from /proc, in 10 ms ticks) during a round over the requests ' +
      'wrk completed, median of the rounds. Other work on a shared machine moves req/s much more than it moves CPU per request, ' +
      'so read that column when the two disagree.',
  ];
  const report: ServerResults = {
    recorded: new Date().toISOString(), method, rows, profiles, seconds,
    loadBefore: loadBefore.map((n) => Number(n.toFixed(2))), loadAfter: loadAfter.map((n) => Number(n.toFixed(2))),
  };
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('wrote bench/results/server.json');
}

/** The rows as a markdown table. */
export function serverTable(rows: readonly ServerRow[]): string[] {
  const ratio = (value: number | undefined) => (value === undefined ? '' : value.toFixed(2));
  return [
    '| group | server | req/s (median) | p99 ms | vs raw node | vs framework alone | vs its own proxy handling | CPU µs/req | CPU vs alone |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.group} | ${r.server} | ${r.rps.toFixed(0)} | ${r.p99Ms.toFixed(2)} | ${r.vsRaw.toFixed(2)} | ` +
      `${ratio(r.vsAlone)} | ${ratio(r.vsNative)} | ${r.cpuUs.toFixed(1)} | ${ratio(r.cpuVsAlone)} |`),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
