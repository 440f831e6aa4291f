/** Invariants of proxyFix over arbitrary, mostly hostile, header values. */
import t from 'tap';
import fc from 'fast-check';
import { createEnv, lintEnv } from '../src/gateway.js';
import { isIP } from 'node:net';
import type { ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { count, forValue, host, port, prefix, scheme } from './fixtures/arbitraries.js';
import { fixed, view } from './fixtures/run.js';

const HEADERS = {
  xFor: 'x-forwarded-for',
  xProto: 'x-forwarded-proto',
  xHost: 'x-forwarded-host',
  xPort: 'x-forwarded-port',
  xPrefix: 'x-forwarded-prefix',
} as const;
type Option = keyof typeof HEADERS;
const OPTIONS = Object.keys(HEADERS) as Option[];

/** The env fields only this option can change (xHost and xPort share host and serverPort). */
const OWN_FIELDS: Record<Option, (keyof ReturnType<typeof view>)[]> = {
  xFor: ['remoteAddr', 'remotePort'],
  xProto: ['scheme'],
  xHost: ['serverName'],
  xPort: [],
  xPrefix: ['scriptName'],
};
/** A value each option would use if it read its header. */
const VALID: Record<Option, string> = {
  xFor: '203.0.113.99', xProto: 'https', xHost: 'example.org', xPort: '8443', xPrefix: '/mounted',
};

/** One list item: mostly valid values, often junk a client might send. */
const item = fc.oneof(
  forValue.map((v) => v.text), scheme, host, port, prefix,
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', ' ', '"', '"a,b"', 'unknown', '_hidden', '[', ']:', '//evil', '/\\evil', '/a/../b', '/%2e%2e',
    '%2f', '\r\n', '\u0000', 'a@b', 'a/b', '10.1', '0x7f.1', '010.0.0.1', 'fe80::1%eth0', '[::1]:0', 'HTTPS', 'file'),
);
const list = fc.array(item, { maxLength: 6 }).map((items) => items.join(','));
const headers = fc.record(
  Object.fromEntries(OPTIONS.map((o) => [HEADERS[o], list])) as Record<string, fc.Arbitrary<string>>,
  { requiredKeys: [] },
) as fc.Arbitrary<Record<string, string>>;
const counts = fc.record({ xFor: count, xProto: count, xHost: count, xPort: count, xPrefix: count });
const start = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/x' };

t.test('no input makes proxyFix throw, and the env stays sound', async () => {
  await fc.assert(fc.asyncProperty(counts, headers, async (c, h) => {
    const env = await fixed(c, { ...start, headers: h });
    const problems = lintEnv(env);
    if (problems.length) throw new Error(problems.join('; '));
  }), { numRuns: 3000 });
});

/** Independent of proxyfix's parsers: what node and the WHATWG URL parser make of a value. */
const port16 = (p: string) => /^[1-9]\d{0,4}$/.test(p) && Number(p) <= 65535;
function urlKeeps(host: string): boolean {
  // The URL parser rewrites IPv6 literals to their shortest form; check those with node instead.
  const literal = /^\[([^\]]*)\](?::(\d+))?$/.exec(host);
  if (literal) return isIP(literal[1]!) === 6 && !literal[1]!.includes('%') && (literal[2] === undefined || port16(literal[2]));
  try {
    return new URL(`http://${host}/`).host === host.toLowerCase().replace(/:(80)$/, '');
  } catch {
    return false;
  }
}
function cleanPrefix(path: string): boolean {
  if (/%(2f|5c|2e)|[\u0000-\u001f\u007f\\]/i.test(path)) return false;
  try {
    const url = new URL(`${path}/`, 'http://h');
    return url.host === 'h' && url.pathname === `${path}/` && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}

t.test('every field proxyFix sets is valid by the rules', async () => {
  await fc.assert(fc.asyncProperty(counts, headers, async (c, h) => {
    const before = view(createEnv({ ...start, headers: h }));
    const after = view(await fixed(c, { ...start, headers: h }));
    if (after.remoteAddr !== before.remoteAddr && (isIP(after.remoteAddr) === 0 || after.remoteAddr.includes('%'))) {
      throw new Error(`remoteAddr ${after.remoteAddr}`);
    }
    if (after.remotePort !== before.remotePort && after.remotePort !== '' && !port16(after.remotePort)) {
      throw new Error(`remotePort ${after.remotePort}`);
    }
    if (after.scheme !== before.scheme && !['http', 'https', 'ws', 'wss'].includes(after.scheme)) {
      throw new Error(`scheme ${after.scheme}`);
    }
    if (after.host !== before.host && !urlKeeps(after.host)) throw new Error(`host ${after.host}`);
    if (after.serverName !== before.serverName && (!urlKeeps(after.serverName) || /:\d+$/.test(after.serverName.replace(/^\[.*\]/, '')))) {
      throw new Error(`serverName ${after.serverName}`);
    }
    if (after.serverPort !== before.serverPort && !port16(after.serverPort)) throw new Error(`serverPort ${after.serverPort}`);
    if (after.scriptName !== before.scriptName && after.scriptName !== '' && !cleanPrefix(after.scriptName)) {
      throw new Error(`scriptName ${after.scriptName}`);
    }
  }), { numRuns: 3000 });
});

t.test('a count of 0 never changes that field', async () => {
  await fc.assert(fc.asyncProperty(fc.constantFrom(...OPTIONS), headers, async (option, h) => {
    // Everything else on, so that only the zero count can explain an unchanged field.
    const options: ProxyFixOptions = { xFor: 1, xProto: 1, xHost: 1, xPort: 1, xPrefix: 1, [option]: 0 };
    const alone: ProxyFixOptions = { xFor: 0, xProto: 0, xHost: 0, xPort: 0, xPrefix: 0 };
    const before = view(createEnv({ ...start, headers: h }));
    const after = view(await fixed(options, { ...start, headers: h }));
    const without = view(await fixed(options, { ...start, headers: { ...h, [HEADERS[option]]: VALID[option] } }));
    if (JSON.stringify(after) !== JSON.stringify(without)) throw new Error(`${option} 0 still read ${HEADERS[option]}`);
    const none = view(await fixed(alone, { ...start, headers: h }));
    if (JSON.stringify(none) !== JSON.stringify(before)) throw new Error('all counts 0 changed the env');
    for (const field of OWN_FIELDS[option]) {
      if (after[field] !== before[field]) throw new Error(`${field} changed with ${option} 0`);
    }
  }), { numRuns: 2000 });
});

t.test('values left of the counted position never matter', async () => {
  await fc.assert(fc.asyncProperty(counts, headers, fc.constantFrom(...OPTIONS), list, async (c, h, option, extra) => {
    const name = HEADERS[option];
    const current = h[name];
    // Prepend anything at all on the left of the header; the fields must not change, provided the
    // header already had at least `count` values (otherwise the count reaches into the prefix).
    if (current === undefined || current.split(',').length < c[option]) return;
    const a = view(await fixed(c, { ...start, headers: h }));
    const b = view(await fixed(c, { ...start, headers: { ...h, [name]: `${extra},${current}` } }));
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${option}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  }), { numRuns: 3000 });
});
