/**
 * The micro benchmark: what fixing one request costs, proxyfix against its peers, in one process on
 * the same inputs (fixtures/bench-requests.json).
 *
 * What "per request" means for proxyfix: the whole call of `proxyFix(app, options)` on an env no
 * proxyFix has seen (a second call on the same env is a no-op by design, so every timed call gets a
 * fresh one, built outside the timed loop). The app it wraps returns a constant. That is the work a
 * server adds when it puts proxyFix in front of an app: decide every field, write them, record the
 * originals. Building the env is timed on its own (`env build`), so that the call compares fairly
 * with proxy-addr(req), which reads a request the server already built; `decide only` is the
 * decision without writing anything (`decide`, the per-request path's first half), on an env it
 * never changes.
 *
 * The peers do less than proxyfix: proxy-addr and @fastify/proxy-addr find the client address only
 * (with the same trust list, compiled once); `forwarded` lists every address and checks none;
 * forwarded-parse parses a whole Forwarded header and checks nothing; the Werkzeug-style split
 * takes each enabled header's value at the depth proxyfix reads, without validating it.
 *
 * Every case and every implementation runs in the same process, interleaved round by round, so
 * each one runs with the others' code warm and their types mixed, as in a user's process. The
 * figure is the median over rounds of the mean time per call in a round.
 *
 *     npm run build && node dist/bench/micro.js [--rounds 7] [--sample-ms 20] [--case "1 hop"]
 *
 * writes bench/results/micro.json and prints the table.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { arch, cpus, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import fastifyProxyAddr from '@fastify/proxy-addr';
import forwarded from 'forwarded';
import parseForwarded from 'forwarded-parse';
import proxyaddr from 'proxy-addr';
import { createEnv, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../src/gateway.js';
import { explain, proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { compileOptions } from '../src/middleware/proxy-fix/options.js';
import { decide } from '../src/middleware/proxy-fix/resolve.js';
import { buildStack, loadVectors, startingEnv } from '../test/fixtures/hostile.js';
import { median } from './fixtures/measure.js';

export interface MicroOptions {
  /** Interleaved rounds; the figure is their median. @default 7 */
  rounds?: number;
  /** About how long one implementation runs on one case in one round. @default 20 */
  sampleMs?: number;
  /** Only the cases whose name includes one of these. @default every case */
  cases?: readonly string[];
  /** Time the hostile vectors too. @default true */
  hostile?: boolean;
  /** Where progress goes. @default console.error */
  log?: (line: string) => void;
}

export interface MicroRow {
  case: string;
  implementation: string;
  /** Median nanoseconds per call. */
  ns: number;
  /** This implementation's time over proxyfix's on the same case (above 1: slower than proxyfix). */
  vsProxyfix: number | null;
  /** What the implementation does on this case, where it is not the same job. */
  note?: string;
}

export interface MicroTarget {
  name: string;
  /** The goal as RESULTS.md shows it: `≤ 0.20`. */
  goal: string;
  /** The largest ratio that meets the target. */
  limit: number;
  ratio: number;
  met: boolean;
}

export interface MicroResult {
  rows: MicroRow[];
  markdown: string;
  targets: MicroTarget[];
}

type HeaderSpec = string | { repeat: string; times?: number; bytes?: number; then: string };
type TrustSpec = string[] | { cidrs: number; then: string[] };

interface CaseSpec {
  name: string;
  family: 'x-forwarded' | 'forwarded';
  options: Record<string, unknown> & { trusted?: TrustSpec };
  headers: Record<string, HeaderSpec>;
}

interface Fixture {
  peer: string;
  host: string;
  cases: CaseSpec[];
}

export const FIXTURE = new URL('../../fixtures/bench-requests.json', import.meta.url);
const RESULTS = new URL('../../bench/results/micro.json', import.meta.url);

/** The names of the implementations, as the table shows them. */
export const PROXYFIX = 'proxyfix';
const DECIDE_ONLY = 'proxyfix decide only';
const ENV_BUILD = 'env build (createEnv)';
const PROXY_ADDR = 'proxy-addr';
const FASTIFY_PROXY_ADDR = '@fastify/proxy-addr';
const FORWARDED = 'forwarded';
const FORWARDED_PARSE = 'forwarded-parse';
const WERKZEUG = 'Werkzeug-style split';

/** A deterministic source, so that every run builds the same lists. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

function headerValue(spec: HeaderSpec): string {
  if (typeof spec === 'string') return spec;
  const items: string[] = [];
  if (spec.times !== undefined) for (let i = 0; i < spec.times; i++) items.push(spec.repeat);
  if (spec.bytes !== undefined) while (items.length * (spec.repeat.length + 2) < spec.bytes) items.push(spec.repeat);
  items.push(spec.then);
  return items.join(', ');
}

function trustList(spec: TrustSpec): string[] {
  if (Array.isArray(spec)) return spec;
  const rand = lcg(42);
  const octet = () => Math.floor(rand() * 256);
  const list = [...spec.then];
  while (list.length < spec.cidrs) list.push(`${11 + Math.floor(rand() * 89)}.${octet()}.${octet()}.0/24`);
  return list;
}

/** The options with "Infinity" counts read and the trust list built. */
function proxyFixOptions(spec: CaseSpec): ProxyFixOptions {
  // Warnings on, as by default: no case here is one that gives one.
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec.options)) {
    options[key] = value === 'Infinity' ? Infinity : key === 'trusted' ? trustList(value as TrustSpec) : value;
  }
  return options as ProxyFixOptions;
}

/** One implementation on one case: `run(n)` makes n calls and returns the nanoseconds they took. */
interface Timed {
  case: string;
  implementation: string;
  note?: string;
  run(iterations: number): number;
  iterations: number;
  samples: number[];
}

/** A sink the calls' results go into, so that no call is optimised away. */
let sink = 0;

function timeLoop<T>(input: T, fn: (input: T) => unknown): (iterations: number) => number {
  return (iterations) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (fn(input) !== undefined) sink++;
    return Number(process.hrtime.bigint() - start);
  };
}

/**
 * Envs built ahead of each timed batch. Small, so that a collection that lands in the batch has
 * few of them to move: the batch's own garbage is the call's cost, the envs waiting are not.
 */
const FRESH_BATCH = 64;

/** Calls on envs built fresh, outside the timed part, a batch at a time. */
function timeFresh(build: () => GatewayEnv, fn: (env: GatewayEnv) => unknown): (iterations: number) => number {
  const batch: GatewayEnv[] = [];
  return (iterations) => {
    let total = 0;
    for (let done = 0; done < iterations;) {
      const n = Math.min(FRESH_BATCH, iterations - done);
      batch.length = 0;
      for (let i = 0; i < n; i++) batch.push(build());
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (fn(batch[i]!) !== undefined) sink++;
      total += Number(process.hrtime.bigint() - start);
      done += n;
    }
    return total;
  };
}

function nodeRequest(remoteAddress: string, headers: Record<string, string>): IncomingMessage {
  return { headers, socket: { remoteAddress }, connection: { remoteAddress } } as unknown as IncomingMessage;
}

/** Werkzeug's `_get_real_value`, as a fact: split on commas, take the n-th from the right, strip. */
function werkzeugValue(value: string | undefined, count: number): string | undefined {
  if (count === 0 || !value) return undefined;
  const values = value.split(',');
  return values.length >= count ? values[values.length - count]!.trim() : undefined;
}

const RESPONSE: GatewayResponse = { status: 204 };
const app: GatewayApp = () => RESPONSE;

function implementations(fixture: Fixture, spec: CaseSpec): Timed[] {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(spec.headers)) headers[name] = headerValue(value);
  const options = proxyFixOptions(spec);
  const build = () => createEnv({ remoteAddr: fixture.peer, remotePort: '50000', host: fixture.host, url: '/', headers });
  const fixed = proxyFix(app, options);
  const settings = compileOptions(options);
  const list: Omit<Timed, 'case' | 'iterations' | 'samples'>[] = [
    { implementation: PROXYFIX, run: timeFresh(build, fixed) },
    { implementation: DECIDE_ONLY, run: timeLoop(build(), (env) => decide(settings, env)) },
    { implementation: ENV_BUILD, run: timeLoop(undefined, build) },
  ];
  const req = nodeRequest(fixture.peer, headers);
  if (spec.family === 'x-forwarded') {
    // The same job where the peer can do it: the client address, walking the same trust list or
    // taking the same number of hops.
    const trusted = options.trusted as string[] | undefined;
    const hops = options.xFor ?? 1;
    const trust = trusted !== undefined ? proxyaddr.compile(trusted) : (_: string, i: number) => i < hops;
    const fastifyTrust = trusted !== undefined ? fastifyProxyAddr.compile(trusted) : trust;
    const what = 'the client address only';
    list.push(
      { implementation: PROXY_ADDR, note: what, run: timeLoop(req, (r) => proxyaddr(r, trust)) },
      { implementation: FASTIFY_PROXY_ADDR, note: what, run: timeLoop(req, (r) => fastifyProxyAddr(r, fastifyTrust)) },
      { implementation: FORWARDED, note: 'every address, no trust check', run: timeLoop(req, (r) => forwarded(r)) },
    );
    // Werkzeug reads each header at the depth proxyfix reads it.
    const depths = explain(build(), options).fields.flatMap((field) =>
      field.depth !== null && field.header.startsWith('x-') ? [[field.header, field.depth] as const] : []);
    list.push({
      implementation: WERKZEUG, note: 'each header split, the value taken unchecked',
      run: timeLoop(headers, (h) => {
        let last: string | undefined;
        for (const [header, depth] of depths) last = werkzeugValue(h[header], depth) ?? last;
        return last;
      }),
    });
  } else {
    list.push({ implementation: FORWARDED_PARSE, note: 'the whole header parsed, nothing checked', run: timeLoop(headers.forwarded!, parseForwarded) });
  }
  return list.map((timed) => ({ ...timed, case: spec.name, iterations: 0, samples: [] }));
}

/** Run the micro benchmark; see the module comment for what it measures. */
export async function runMicro(options: MicroOptions = {}): Promise<MicroResult> {
  const rounds = options.rounds ?? 7;
  const sampleMs = options.sampleMs ?? 20;
  const log = options.log ?? ((line: string) => console.error(line));
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;
  const cases = fixture.cases.filter((spec) => options.cases === undefined || options.cases.some((name) => spec.name.includes(name)));
  const timed = cases.flatMap((spec) => implementations(fixture, spec));

  // Warm up and size each sample to about sampleMs.
  for (const t of timed) {
    let iterations = 64;
    while (t.run(iterations) < sampleMs * 1e6 / 4) iterations *= 2;
    t.iterations = iterations * 4;
    t.run(t.iterations);
  }
  for (let round = 0; round < rounds; round++) {
    for (const t of timed) t.samples.push(t.run(t.iterations) / t.iterations);
    log(`micro: round ${round + 1} of ${rounds}`);
  }

  const rows: MicroRow[] = [];
  for (const spec of cases) {
    const own = timed.filter((t) => t.case === spec.name);
    const ours = median(own.find((t) => t.implementation === PROXYFIX)!.samples);
    for (const t of own) {
      const ns = median(t.samples);
      rows.push({ case: t.case, implementation: t.implementation, ns, vsProxyfix: t.implementation === PROXYFIX ? null : ns / ours, note: t.note });
    }
  }
  if (options.hostile !== false) rows.push(hostileRow(sampleMs, rounds));
  const targets = targetsOf(rows);
  if (sink === -1) log('');
  return { rows, targets, markdown: markdownOf(rows, targets, rounds, sampleMs) };
}

/**
 * The hostile inputs the tests check (fixtures/hostile.jsonl), each through its own stack: what an
 * attack costs, averaged over every vector that builds (construction errors are not timed), env
 * build included.
 */
function hostileRow(sampleMs: number, rounds: number): MicroRow {
  const vectors = loadVectors(new URL('../../fixtures/hostile.jsonl', import.meta.url)).flatMap((vector) => {
    try {
      return [{ app: buildStack(vector)(app), vector }];
    } catch {
      return [];
    }
  });
  const once = () => {
    const start = process.hrtime.bigint();
    for (const { app: stack, vector } of vectors) if (stack(startingEnv(vector)) !== undefined) sink++;
    return Number(process.hrtime.bigint() - start) / vectors.length;
  };
  const samples: number[] = [];
  const until = Date.now() + sampleMs * 5;
  while (Date.now() < until) once();
  for (let r = 0; r < rounds * 5; r++) samples.push(once());
  return {
    case: `hostile inputs (${vectors.length} vectors)`, implementation: 'proxyfix, each vector\'s own stack, env build included',
    ns: median(samples), vsProxyfix: null,
  };
}

function find(rows: readonly MicroRow[], name: string, implementation: string): MicroRow | undefined {
  return rows.find((row) => row.case === name && row.implementation === implementation);
}

/** Issue 11's micro targets, each a ratio that must stay at or under its goal. */
function targetsOf(rows: readonly MicroRow[]): MicroTarget[] {
  const targets: MicroTarget[] = [];
  const add = (name: string, limit: number, numerator: MicroRow | undefined, denominator: MicroRow | undefined) => {
    if (numerator === undefined || denominator === undefined) return;
    const ratio = numerator.ns / denominator.ns;
    targets.push({ name, goal: `≤ ${limit.toFixed(2)}`, limit, ratio, met: ratio <= limit });
  };
  // proxy-addr does the trust walk too on every X-Forwarded case with a trust list.
  const walked = [...new Set(rows.map((row) => row.case))].filter((name) => find(rows, name, PROXY_ADDR) && !name.includes('counted'));
  for (const name of walked) {
    add(`${name}: proxyfix / proxy-addr`, 0.2, find(rows, name, PROXYFIX), find(rows, name, PROXY_ADDR));
  }
  add('Forwarded, 1 element: proxyfix / forwarded-parse', 1, find(rows, 'Forwarded, 1 element', PROXYFIX), find(rows, 'Forwarded, 1 element', FORWARDED_PARSE));
  add('trust list of 10,000 CIDRs / of 1', 1.2, find(rows, 'trust list of 10,000 CIDRs', PROXYFIX), find(rows, 'trust list of 1 CIDR', PROXYFIX));
  add('16 KiB hostile header / 1 hop', 1.2, find(rows, '16 KiB hostile header', PROXYFIX), find(rows, '1 hop', PROXYFIX));
  return targets;
}

function markdownOf(rows: readonly MicroRow[], targets: readonly MicroTarget[], rounds: number, sampleMs: number): string {
  const lines = [
    `Node ${process.version}, ${platform()} ${arch()}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores). ` +
      `Median of ${rounds} interleaved rounds of about ${sampleMs} ms per implementation and case, one process.`,
    '"× proxyfix" is the implementation\'s time over proxyfix\'s on the same case: above 1, proxyfix is faster.',
    '',
    '| case | implementation | ns per call | × proxyfix | note |',
    '|---|---|---:|---:|---|',
    ...rows.map((row) =>
      `| ${row.case} | ${row.implementation} | ${row.ns.toFixed(0)} | ${row.vsProxyfix === null ? '' : row.vsProxyfix.toFixed(2)} | ${row.note ?? ''} |`),
    '',
    '| target | goal | ratio | met |',
    '|---|---:|---:|---|',
    ...targets.map((t) => `| ${t.name} | ${t.goal} | ${t.ratio.toFixed(3)} | ${t.met ? 'yes' : '**no**'} |`),
    '',
  ];
  return lines.join('\n');
}

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rounds = argument('--rounds');
  const sampleMs = argument('--sample-ms');
  const only = process.argv.flatMap((arg, i) => (process.argv[i - 1] === '--case' ? [arg] : []));
  const result = await runMicro({
    rounds: rounds === undefined ? undefined : Number(rounds),
    sampleMs: sampleMs === undefined ? undefined : Number(sampleMs),
    cases: only.length > 0 ? only : undefined,
    hostile: !process.argv.includes('--no-hostile'),
  });
  mkdirSync(new URL('.', RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify({
    recorded: new Date().toISOString(), node: process.version, platform: `${platform()} ${arch()}`,
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, rows: result.rows, targets: result.targets, markdown: result.markdown,
  }, null, 2)}\n`);
  console.log(result.markdown);
}
