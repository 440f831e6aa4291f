/**
 * `npm run bench`: proxyfix against its peers (proxy-addr, forwarded) in the same run, on the same
 * inputs. Prints a table and writes bench/RESULTS.md. Each figure is the median of several rounds
 * of a timed loop after a warm-up; compare ratios within one run, not figures across machines.
 */
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { arch, cpus, platform } from 'node:os';
import forwarded from 'forwarded';
import parseForwarded from 'forwarded-parse';
import proxyaddr from 'proxy-addr';
import { createEnv, type GatewayEnv } from '../src/gateway.js';
import { compileOptions, type ProxyFixOptions } from '../src/middleware/proxy-fix/options.js';
import { resolve } from '../src/middleware/proxy-fix/resolve.js';
import { buildStack, loadVectors, startingEnv } from '../test/fixtures/hostile.js';
import { compileTrust } from '../src/net/trust.js';

const ROUNDS = 7;
const ROUND_MS = 250;

/** Median nanoseconds per call of `fn` over `inputs` (cycled), after a warm-up. */
function measure<T>(inputs: readonly T[], fn: (input: T) => unknown): number {
  let sink = 0;
  const run = (iterations: number) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (fn(inputs[i % inputs.length]!)) sink++;
    return Number(process.hrtime.bigint() - start);
  };
  // Find an iteration count that takes about ROUND_MS, warming up on the way.
  let iterations = 1000;
  while (run(iterations) < ROUND_MS * 1e6 / 4) iterations *= 2;
  iterations *= 4;
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(run(iterations) / iterations);
  rounds.sort((a, b) => a - b);
  if (sink < 0) console.log(sink); // keeps the results alive
  return rounds[Math.floor(ROUNDS / 2)]!;
}

interface Row {
  group: string;
  name: string;
  ns: number;
  baseline?: string;
}
const rows: Row[] = [];
function bench<T>(group: string, name: string, inputs: readonly T[], fn: (input: T) => unknown, baseline?: string) {
  const ns = measure(inputs, fn);
  rows.push({ group, name, ns, baseline });
  console.log(`${group.padEnd(34)} ${name.padEnd(44)} ${ns.toFixed(1).padStart(9)} ns`);
}

/** A deterministic pseudo-random source, so that every run measures the same lists. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}
const rand = random(42);
const octet = () => Math.floor(rand() * 256);

// 1. Trust-list scaling: the same lookups against lists of 1, 100 and 10,000 CIDR ranges.
const probes = Array.from({ length: 1024 }, (_, i) => (i % 4 === 0 ? `10.0.0.${i % 250}` : `${octet()}.${octet()}.${octet()}.${octet()}`));
for (const size of [1, 100, 10_000]) {
  const list = ['10.0.0.0/24', ...Array.from({ length: size - 1 }, () => `${11 + Math.floor(rand() * 200)}.${octet()}.${octet()}.0/24`)];
  const ours = compileTrust(list);
  const theirs = proxyaddr.compile(list);
  const group = `trust list of ${size.toLocaleString('en')}`;
  bench(group, 'proxyfix compileTrust matcher', probes, (addr) => ours(addr, 0));
  bench(group, 'proxy-addr compile() matcher', probes, (addr) => theirs(addr, 0), 'proxyfix compileTrust matcher');
}

// 2. One request, the client address: proxyfix resolves every field; the peers find the address only.
function request(remoteAddress: string, headers: Record<string, string>): IncomingMessage {
  return { headers, socket: { remoteAddress }, connection: { remoteAddress } } as unknown as IncomingMessage;
}
function envFor(remoteAddr: string, headers: Record<string, string>): GatewayEnv {
  return createEnv({ remoteAddr, host: 'app.internal:8000', headers });
}
const shapes: [string, Record<string, string>][] = [
  ['one proxy', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }],
  ['two proxies', { 'x-forwarded-for': '203.0.113.7, 10.0.0.3', 'x-forwarded-proto': 'https' }],
  ['100 forged values on the left', { 'x-forwarded-for': `${Array.from({ length: 100 }, (_, i) => `6.6.${i}.6`).join(', ')}, 203.0.113.7, 10.0.0.3`, 'x-forwarded-proto': 'https' }],
];
const trust = ['loopback', '10.0.0.0/8'];
const trustFn = proxyaddr.compile(trust);
for (const [shape, headers] of shapes) {
  const group = `client address, ${shape}`;
  const env = envFor('10.0.0.2', headers);
  const req = request('10.0.0.2', headers);
  const walk = compileOptions({ xFor: Infinity, xProto: 1, trusted: trust });
  const counted = compileOptions({ xFor: 2 } satisfies ProxyFixOptions);
  bench(group, 'proxyfix trusted walk (all fields)', [env], (e) => resolve(walk, e, false).changed.remoteAddr);
  bench(group, 'proxyfix xFor: 2, no trust list', [env], (e) => resolve(counted, e, false).changed.remoteAddr);
  bench(group, 'proxy-addr(req, compiled trust)', [req], (r) => proxyaddr(r, trustFn), 'proxyfix trusted walk (all fields)');
  bench(group, 'forwarded(req): every address', [req], (r) => forwarded(r).length, 'proxyfix xFor: 2, no trust list');
}

// 3. RFC 7239: the last element of a Forwarded header.
const forwardedHeaders = [
  'for=203.0.113.7;proto=https;host=example.com',
  `${Array.from({ length: 50 }, (_, i) => `for=6.6.${i}.6`).join(', ')}, for=203.0.113.7;proto=https`,
];
for (const [i, header] of forwardedHeaders.entries()) {
  const group = `Forwarded, ${i === 0 ? 'one element' : '51 elements'}`;
  const env = envFor('10.0.0.2', { forwarded: header });
  const fix = compileOptions({ forwarded: 1, trusted: trust });
  bench(group, 'proxyfix forwarded: 1 (all fields)', [env], (e) => resolve(fix, e, false).changed.remoteAddr);
  bench(group, 'forwarded-parse(whole header)', [header], (h) => parseForwarded(h).length, 'proxyfix forwarded: 1 (all fields)');
}

// 4. The hostile inputs the tests check (fixtures/hostile.jsonl), each through its own stack: what
// an attack costs, averaged over every vector that builds (construction errors are not timed).
const vectors = loadVectors(new URL('../../fixtures/hostile.jsonl', import.meta.url)).flatMap((vector) => {
  try {
    return [{ app: buildStack(vector)(() => ({ status: 204 })), vector }];
  } catch {
    return [];
  }
});
bench(`hostile inputs (${vectors.length} vectors)`, 'proxyfix, each vector\'s own stack', vectors,
  ({ app, vector }) => app(startingEnv(vector)));

// Report: ratios are the peer's time over proxyfix's, so 3.0 means proxyfix is three times faster.
const find = (group: string, name: string) => rows.find((r) => r.group === group && r.name === name)!;
const lines = [
  '# Benchmark results',
  '',
  `Recorded by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: node ${process.version}, ${platform()} ${arch()}, ` +
    `${cpus()[0]?.model ?? 'unknown CPU'}. Median of ${ROUNDS} rounds of about ${ROUND_MS} ms each.`,
  '"peer / proxyfix" is the peer\'s time divided by proxyfix\'s on the same input in the same run.',
  '',
  '| case | implementation | ns per call | peer / proxyfix |',
  '|---|---|---:|---:|',
  ...rows.map((r) => `| ${r.group} | ${r.name} | ${r.ns.toFixed(1)} | ${r.baseline ? `${(r.ns / find(r.group, r.baseline).ns).toFixed(2)}` : ''} |`),
  '',
];
const sizes = [1, 100, 10_000].map((n) => find(`trust list of ${n.toLocaleString('en')}`, 'proxyfix compileTrust matcher').ns);
lines.push(`Trust-list scaling (proxyfix): 10,000 entries cost ${(sizes[2]! / sizes[0]!).toFixed(2)}x what 1 entry costs ` +
  `(100 entries: ${(sizes[1]! / sizes[0]!).toFixed(2)}x).`, '');
writeFileSync(new URL('../../bench/RESULTS.md', import.meta.url), lines.join('\n'));
console.log(`\n${lines.at(-2)}\nwrote bench/RESULTS.md`);
