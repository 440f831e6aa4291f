/**
 * Fuzzing with a fixed budget: 100,000 generated inputs per run, spread over the parsers and the
 * middlewares, each property with a seed printed first (rerun one with FUZZ_SEED=<seed>).
 *
 * Three things must hold for every input:
 * - nothing throws out of a parser or a middleware;
 * - every field a middleware writes is valid by rules that are not proxyfix's own: the WHATWG URL
 *   parser for hosts, names and prefixes, `net.isIP` for addresses;
 * - no value a client wrote left of the trusted proxies ever becomes the client address.
 */
import { isIP } from 'node:net';
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { createEnv, type EnvInit, type FixedField, type GatewayApp, type GatewayEnv } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { rewriteHeaders, type RewriteTarget } from '../src/middleware/rewrite.js';
import { parseAddress } from '../src/net/address.js';
import { ForwardedFromRight, parseNode } from '../src/net/forwarded.js';
import { parseHost } from '../src/net/host.js';
import { ListFromRight } from '../src/net/list.js';
import { parsePort } from '../src/net/port.js';
import { parsePrefix } from '../src/net/prefix.js';
import { parseScheme } from '../src/net/scheme.js';
import * as arb from './fixtures/arbitraries.js';

const base = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
let budget = 0;

/** Run `property` `numRuns` times with its own seed, printed before it runs. */
function fuzz<T>(t: Test, name: string, numRuns: number, arbitrary: fc.Arbitrary<T>, check: (value: T) => void): void {
  const seed = (base + budget) % 2 ** 31;
  budget += numRuns;
  t.comment(`${name}: ${numRuns} runs, seed ${seed} (FUZZ_SEED=${base})`);
  fc.assert(fc.property(arbitrary, check), { seed, numRuns });
  t.pass(name);
}

/** Text as hostile as a header line can carry: separators, quotes, brackets, escapes, Unicode. */
const junk = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.array(fc.constantFrom(',', ';', '=', '"', '\\', '[', ']', ':', '%', '/', '.', ' ', '\t', 'for', 'unknown', '_x', '10.0.0.1',
    '::', '::ffff:0:0', 'fe80::1%eth0', '2001:db8::a', '0.0.0.0', 'https', 'javascript', '..', '//', '%2f', '@'), { maxLength: 12 })
    .map((parts) => parts.join('')),
);
const headerValue = fc.oneof(
  junk,
  arb.listHeader(arb.forValue, (v) => v.text).map((list) => list.header),
  arb.listHeader(arb.host, (h) => h).map((list) => list.header),
  arb.listHeader(arb.prefix, (p) => p).map((list) => list.header),
  arb.listHeader(arb.scheme, (s) => s).map((list) => list.header),
  arb.listHeader(arb.port, (p) => p).map((list) => list.header),
  arb.forValue.map((v) => `for="${v.text.replaceAll('"', '')}";proto=https;host=example.com`),
);
const headers = fc.dictionary(
  fc.constantFrom('x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded',
    'x-real-ip', 'x-fhost', 'x-scheme', 'x-port', 'x-prefix'),
  headerValue,
  { maxKeys: 8 },
);
const trusted = ['10.0.0.0/8', 'fd00::/8', 'linklocal'];
const peer = fc.oneof(
  fc.constantFrom('10.0.0.2', '::ffff:10.0.0.2', 'fd00::2', 'fe80::1%eth0', '', '203.0.113.66', '2001:db8::66'),
  arb.ipv4, arb.ipv6, junk,
);
const incomingHost = fc.oneof(arb.host, junk, fc.constantFrom('', '2001:db8::a', '[::1]:8000', 'app.internal:8000'));
const init: fc.Arbitrary<EnvInit> = fc.record({
  remoteAddr: peer,
  host: incomingHost,
  scheme: fc.constantFrom('http', 'https', 'ws', 'wss'),
  headers,
});

const count = fc.constantFrom(0, 1, 2, 3, Infinity);
const proxyFixOptions: fc.Arbitrary<ProxyFixOptions> = fc.oneof(
  fc.record({ xFor: count, xProto: count, xHost: count, xPort: count, xPrefix: count, symmetric: fc.boolean() }),
  fc.record({ forwarded: fc.constantFrom(1, 2, Infinity), xPrefix: count }),
).chain((counts) => fc.record({ trusted: fc.option(fc.constant(trusted), { nil: undefined }), trustUnixSocket: fc.boolean(), trace: fc.boolean() })
  .map((rest): ProxyFixOptions => {
    if (rest.trusted !== undefined) return arb.walkable({ ...counts, ...rest, warnings: false });
    // Without a trust list counts are believed as they are; Infinity needs a list to bound it.
    const finite = Object.fromEntries(Object.entries(counts).map(([key, value]) => [key, value === Infinity ? 3 : value]));
    return { ...finite, trace: rest.trace, warnings: false };
  }));

const targets: RewriteTarget[] = ['remoteAddr', 'remotePort', 'scheme', 'host', 'serverName', 'serverPort', 'scriptName'];
const rewriteMap = fc.uniqueArray(fc.constantFrom(...targets), { minLength: 1, maxLength: 4 })
  .map((fields) => Object.fromEntries(fields.map((field, i) => [['x-real-ip', 'x-fhost', 'x-scheme', 'x-port'][i]!, field])));

const app: GatewayApp = () => ({ status: 204 });

/** Why a written field is not valid, by rules independent of proxyfix's parsers; `[]` when all are. */
function invalidFields(before: GatewayEnv, after: GatewayEnv, schemes: readonly string[]): string[] {
  const problems: string[] = [];
  const fields: FixedField[] = ['remoteAddr', 'remotePort', 'scheme', 'host', 'serverName', 'serverPort', 'scriptName'];
  for (const field of fields) {
    const value = after[field];
    if (value === before[field]) continue;
    if (!validField(field, value, schemes)) problems.push(`${field} written as ${JSON.stringify(value)}`);
  }
  return problems;
}

function validPort(value: string): boolean {
  return /^[1-9][0-9]{0,4}$/.test(value) && Number(value) <= 65535;
}

/** Parses as the authority of an http URL and nothing else: no userinfo, path, query or fragment. */
function validAuthority(value: string): boolean {
  let url: URL;
  try {
    url = new URL(`http://${value}/`);
  } catch {
    return false;
  }
  return url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '' &&
    `${url.hostname}${url.port === '' ? '' : `:${url.port}`}`.length > 0;
}

function validField(field: FixedField, value: string, schemes: readonly string[]): boolean {
  switch (field) {
    case 'remoteAddr': {
      if (isIP(value) === 0) return false;
      // The unspecified address in any spelling: WHATWG's IPv6 serializer gives it one spelling.
      const canonical = isIP(value) === 4 ? value : new URL(`http://[${value}]/`).hostname;
      return canonical !== '0.0.0.0' && canonical !== '[::]' && canonical !== '[::ffff:0:0]';
    }
    case 'remotePort':
      return value === '' || validPort(value);
    case 'scheme':
      return schemes.includes(value);
    case 'host':
      return validAuthority(value);
    case 'serverName':
      return !value.includes(':') || value.startsWith('[') ? validAuthority(value) : false;
    case 'serverPort':
      return validPort(value);
    case 'scriptName':
      return value === '' || (value.startsWith('/') && !value.startsWith('//') && !value.endsWith('/') &&
        new URL(`http://a${value}`).pathname === value);
  }
}

t.test('the parsers: no input throws, and what they accept is valid by independent rules', async (t) => {
  const text = fc.oneof(junk, headerValue, fc.string({ unit: 'binary', maxLength: 60 }));
  fuzz(t, 'parseAddress', 10_000, text, (value) => {
    const parsed = parseAddress(value);
    if (parsed === undefined) return;
    if (!validField('remoteAddr', parsed.address, []) || !(parsed.port === '' || validPort(parsed.port))) {
      throw new Error(`accepted ${JSON.stringify(value)} as ${JSON.stringify(parsed)}`);
    }
  });
  fuzz(t, 'parseHost', 10_000, text, (value) => {
    const parsed = parseHost(value);
    if (parsed !== undefined && (!validAuthority(parsed.host) || !validAuthority(parsed.name))) throw new Error(`accepted ${JSON.stringify(value)}`);
  });
  fuzz(t, 'parsePrefix, parsePort, parseScheme, parseNode', 10_000, text, (value) => {
    const prefix = parsePrefix(value);
    if (prefix !== undefined && !validField('scriptName', prefix, [])) throw new Error(`prefix ${JSON.stringify(value)} → ${JSON.stringify(prefix)}`);
    const port = parsePort(value);
    if (port !== undefined && !validPort(value)) throw new Error(`port ${JSON.stringify(value)}`);
    const scheme = parseScheme(value);
    if (scheme !== undefined && !['http', 'https', 'ws', 'wss'].includes(scheme)) throw new Error(`scheme ${JSON.stringify(value)}`);
    const node = parseNode(value);
    if (node?.kind === 'address' && !validField('remoteAddr', node.address, [])) throw new Error(`node ${JSON.stringify(value)}`);
  });
  fuzz(t, 'list and Forwarded readers', 10_000, text, (value) => {
    const list = new ListFromRight(value);
    for (let i = 0; i < 100 && list.next() !== undefined; i++);
    const elements = new ForwardedFromRight(value);
    for (let i = 0; i < 100 && elements.next() !== undefined; i++);
  });
});

t.test('proxyFix: nothing throws, every field written is valid', async (t) => {
  fuzz(t, 'proxyFix', 30_000, fc.tuple(proxyFixOptions, init), ([options, request]) => {
    const env = createEnv(request);
    const before = { ...env };
    proxyFix(app, options)(env);
    const problems = invalidFields(before, env, ['http', 'https', 'ws', 'wss']);
    if (problems.length > 0) throw new Error(problems.join('; '));
  });
});

t.test('rewriteHeaders: nothing throws, every field written is valid', async (t) => {
  fuzz(t, 'rewriteHeaders', 15_000, fc.tuple(rewriteMap, fc.boolean(), fc.constantFrom(1, 2), init), ([map, trusting, count, request]) => {
    const env = createEnv(request);
    const before = { ...env };
    rewriteHeaders(app, { map, count, warnings: false, ...(trusting ? { trusted } : {}) })(env);
    const problems = invalidFields(before, env, ['http', 'https', 'ws', 'wss']);
    if (problems.length > 0) throw new Error(problems.join('; '));
  });
});

/**
 * The anti-spoofing model: a client reaches the app through trusted proxies that append what they
 * saw; whatever the client put in the header before them, the client address is the one the
 * outermost proxy saw, or (with a smaller count) one a proxy saw, never the client's text.
 */
t.test('no client-written value becomes the client address', async (t) => {
  const proxy = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `10.0.${a}.${b}`);
  // Outside every trusted range: not 10/8, not link-local, not fd00::/8.
  const client = fc.oneof(arb.ipv4.filter((a) => !a.startsWith('10.') && !a.startsWith('169.254.')),
    arb.ipv6.filter((a) => !/^f[de]/i.test(a)));
  const chain = fc.record({
    forged: fc.array(fc.oneof(junk, proxy), { maxLength: 4 }),
    client,
    proxies: fc.array(proxy, { minLength: 1, maxLength: 5 }),
    forwarded: fc.boolean(),
    count: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.constant(Infinity)),
    deeper: fc.integer({ min: 0, max: 7 }),
  });
  fuzz(t, 'anti-spoofing', 15_000, chain, (c) => {
    const seen = [c.client, ...c.proxies.slice(0, -1)];
    const item = (addr: string) => (c.forwarded ? `for="${addr.includes(':') ? `[${addr}]` : addr}"` : addr);
    const header = [...c.forged, ...seen.map(item)].join(', ');
    const options = arb.walkable(c.forwarded
      ? { forwarded: c.count, xPrefix: c.deeper, trusted }
      : { xFor: c.count, xProto: c.deeper, trusted });
    const env = createEnv({ remoteAddr: c.proxies.at(-1)!, headers: { [c.forwarded ? 'forwarded' : 'x-forwarded-for']: header } });
    proxyFix(app, { ...options, warnings: false })(env);
    const expected = seen[Math.max(0, seen.length - c.count)];
    if (env.remoteAddr !== expected) throw new Error(`got ${env.remoteAddr}, expected ${expected} from ${header}`);
  });
  t.equal(budget, 100_000, 'the whole budget ran');
});
