/**
 * proxyFix decides each request twice over in its source: `resolve` explains the decision field by
 * field (`explain`, the `trace` option), and `decide` is the per-request path, written for speed
 * (no trace, no reader or list per request, a walk that hands over the client it stopped at). They
 * must never disagree. A proxyFix with `trace: true` takes the explaining path, one without it the
 * per-request path, so the same options with and without `trace` must leave every env identical:
 * the fields, the originals record (with its key order) and the warnings given.
 */
import t from 'tap';
import fc from 'fast-check';
import { createEnv, FIXED, ORIGINALS, type GatewayEnv } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { compilePeerTrust, compileTrustMatcher, type TrustInput } from '../src/net/trust.js';
import { ipv4Number } from '../src/net/address.js';
import { ipv4, ipv6, port, walkable } from './fixtures/arbitraries.js';

const proxy = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `10.0.${a}.${b}`);
const address = fc.oneof(proxy, ipv4, ipv6, fc.constantFrom('::ffff:10.0.0.1', '2001:db8::7', '0.0.0.0', '::', '127.0.0.1'));
/** What a hop's for-value can be: addresses with and without ports and brackets, and junk. */
const forValue = fc.oneof(
  { weight: 4, arbitrary: address },
  fc.tuple(ipv4, port).map(([a, p]) => `${a}:${p}`),
  fc.tuple(ipv6, fc.option(port, { nil: undefined })).map(([a, p]) => (p === undefined ? `[${a}]` : `[${a}]:${p}`)),
  fc.constantFrom('unknown', '_hidden', '', ' ', '010.0.0.1', '10.1', '1.2.3.4:0', '[::1', 'fe80::1%eth0', '1.2.3.4:80:90'),
  fc.string({ maxLength: 12 }),
);
const list = <T>(item: fc.Arbitrary<T>, text: (value: T) => string = String) =>
  fc.tuple(fc.array(item, { minLength: 1, maxLength: 6 }), fc.constantFrom(',', ', ', ' , ', ',\t')).map(([items, separator]) => items.map(text).join(separator));
const quoted = (value: string) => (/^[\w.!#$%&'*+^`|~-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`);
/** A Forwarded element as proxies write it, or bent out of shape. */
const element = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    for: fc.option(forValue.map((v) => (v.includes(':') && !v.startsWith('[') ? `[${v}]` : v)), { nil: undefined }),
    proto: fc.option(fc.constantFrom('https', 'http', 'HTTPS', 'ftp', ''), { nil: undefined }),
    host: fc.option(fc.constantFrom('example.com', 'example.com:8443', '[2001:db8::1]:443', 'a b', ''), { nil: undefined }),
    by: fc.option(fc.constantFrom('10.0.0.1', '_proxy'), { nil: undefined }),
  }).map((params) => Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${quoted(v!)}`).join(';')) },
  fc.constantFrom('for=10.0.0.1;for=10.0.0.2', 'for="10.0.0.1', 'for=10.0.0.1;', 'For=10.0.0.3;PROTO=https', 'for = 10.0.0.1', 'x', ''),
  fc.string({ maxLength: 16 }),
);
const headers = fc.record({
  'x-forwarded-for': list(forValue),
  'x-forwarded-proto': list(fc.constantFrom('https', 'http', 'HTTPS', 'wss', 'ftp', '', 'javascript')),
  'x-forwarded-host': list(fc.constantFrom('example.com', 'example.com:8443', '[2001:db8::1]', '[2001:db8::1]:99', 'ex ample', '10.1', '')),
  'x-forwarded-port': list(fc.constantFrom('443', '8443', '0', '65536', 'x', '')),
  'x-forwarded-prefix': list(fc.constantFrom('/app', '/a/b/', '/', '//evil', '/../x', 'app', '')),
  forwarded: list(element),
}, { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>;

const counts = fc.constantFrom(0, 1, 2, 3, Infinity);
const trust: fc.Arbitrary<TrustInput | undefined> = fc.constantFrom(
  undefined, undefined, ['10.0.0.0/8'], ['10.0.0.0/8', '2001:db8::/32', '::ffff:192.0.2.0/120'], 'loopback, private',
  (addr: string) => addr.startsWith('10.0.0.'),
);
const options: fc.Arbitrary<ProxyFixOptions> = fc.tuple(
  fc.oneof(
    fc.record({ xFor: counts, xProto: counts, xHost: counts, xPort: counts, xPrefix: counts }, { requiredKeys: [] }),
    fc.record({ forwarded: counts.filter((n) => n > 0), xPrefix: counts }, { requiredKeys: ['forwarded'] }),
  ),
  trust,
  fc.option(fc.constantFrom(['https', 'http'], ['HTTPS']), { nil: undefined }),
  fc.boolean(),
  fc.boolean(),
).map(([chosen, trusted, schemes, unix, symmetric]) => {
  let all: ProxyFixOptions = { ...chosen, ...(schemes === undefined ? {} : { schemes }) };
  // ASP.NET's header symmetry, for the X-Forwarded-* family it applies to.
  if (symmetric && !('forwarded' in all)) all.symmetric = true;
  // Without a trust list a count is a count: Infinity is for walks only.
  if (trusted === undefined) {
    for (const key of ['xFor', 'xProto', 'xHost', 'xPort', 'xPrefix', 'forwarded'] as const) if (all[key] === Infinity) all[key] = 4;
    return all;
  }
  all = walkable({ ...all, trusted, trustUnixSocket: unix });
  return all;
});
const peer = fc.oneof(proxy, address, fc.constantFrom('', 'fe80::1%eth0', '::ffff:10.0.0.2', 'not an address'));
const start = fc.record({
  peer,
  scheme: fc.constantFrom('http', 'https', 'ws', 'wss'),
  host: fc.constantFrom('app.internal:8000', 'app.internal', '[::1]:8000', '', '2001:db8::a'),
  /** An earlier middleware already replaced the peer: the walk must start from the original. */
  earlier: fc.option(proxy, { nil: undefined }),
});

function envOf(s: { peer: string; scheme: string; host: string; earlier: string | undefined }, h: Record<string, string>): GatewayEnv {
  const env = createEnv({ remoteAddr: s.peer, remotePort: '50000', scheme: s.scheme, host: s.host, headers: h });
  if (s.earlier !== undefined) {
    env.ext[ORIGINALS] = { remoteAddr: s.peer };
    env.remoteAddr = s.earlier;
  }
  return env;
}

/** The env as the app saw it, and the warnings given, through a proxyFix with these options. */
function outcome(all: ProxyFixOptions, env: GatewayEnv) {
  const warnings: string[] = [];
  let seen: GatewayEnv | undefined;
  const app = proxyFix((e) => {
    seen = e;
    return { status: 204 };
  }, { ...all, onWarning: (warning) => warnings.push(`${warning.code}: ${warning.message}`) });
  void app(env);
  const { headers: _h, body: _b, ext, ...fields } = seen!;
  return JSON.stringify({ fields, originals: ext[ORIGINALS] ?? null, fixed: ext[FIXED], warnings });
}

t.test('the per-request path and the explaining path leave every env the same', async (t) => {
  let compared = 0;
  fc.assert(fc.property(options, start, headers, (all, s, h) => {
    const fast = outcome(all, envOf(s, h));
    const explained = outcome({ ...all, trace: true }, envOf(s, h));
    compared++;
    if (fast !== explained) throw new Error(`options ${JSON.stringify(all)}\nper request: ${fast}\nexplained:   ${explained}`);
  }), { numRuns: 4000 });
  t.equal(compared, 4000);
});

t.test('the chains the benchmark times: both paths agree, and a walk with a list agrees with one with a predicate', async (t) => {
  const chains = [
    '203.0.113.7', '203.0.113.7, 10.0.0.3', '203.0.113.7, 10.0.0.6, 10.0.0.5, 10.0.0.4, 10.0.0.3',
    '6.6.6.6, 203.0.113.7:4711, 10.0.0.3', '[2001:db8::7]:80, 10.0.0.3', '0.0.0.0, 10.0.0.3', '10.0.0.4, 10.0.0.3',
  ];
  for (const chain of chains) {
    const h = { 'x-forwarded-for': chain, 'x-forwarded-proto': 'https' };
    const s = { peer: '10.0.0.2', scheme: 'http', host: 'app.internal:8000', earlier: undefined };
    for (const xFor of [1, 2, 3, Infinity]) {
      const list = outcome({ xFor, xProto: 1, trusted: ['10.0.0.0/8'] }, envOf(s, h));
      t.equal(list, outcome({ xFor, xProto: 1, trusted: ['10.0.0.0/8'], trace: true }, envOf(s, h)), `${chain}, xFor ${xFor}`);
      // The list's IPv4 check by number and a predicate's check of the text reach the same client.
      t.equal(list, outcome({ xFor, xProto: 1, trusted: (a) => a.startsWith('10.') }, envOf(s, h)), `${chain}, xFor ${xFor}, predicate`);
    }
  }
});

t.test('a trust list checks an IPv4 address read as a number as it checks its text, the peer included', async (t) => {
  const cidr = fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 32 })).map(([a, bits]) => `${a}/${bits}`);
  const lists = fc.array(fc.oneof(cidr, fc.constantFrom('loopback', 'private', '::ffff:192.0.2.0/120', '2001:db8::/32')), { minLength: 1, maxLength: 6 });
  const peerText = fc.oneof(ipv4, address, fc.constantFrom('', 'fe80::1%eth0', '::ffff:10.0.0.2', '10.0.0.2%eth0', 'junk'));
  let compared = 0;
  // Peers at and around the listed ranges' edges, where a check by number could slip, and others.
  const near = (list: string[], offsets: number[]) => list.flatMap((entry) => {
    const base = ipv4Number(entry.split('/')[0]!);
    return base === -1 ? [] : offsets.map((offset) => {
      const n = (base + offset) >>> 0;
      return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
    });
  });
  const offsets = fc.array(fc.integer({ min: -300, max: 300 }), { minLength: 1, maxLength: 4 });
  fc.assert(fc.property(lists, fc.array(peerText, { minLength: 1, maxLength: 8 }), offsets, fc.boolean(), (list, others, around, unix) => {
    const peers = [...others, ...near(list, around)];
    let matcher;
    try {
      matcher = compileTrustMatcher(list);
    } catch {
      return; // a list that trusts everything is refused: nothing to compare
    }
    const byText = compilePeerTrust(matcher.test, unix);
    const byNumber = compilePeerTrust(matcher.test, unix, matcher.ipv4);
    for (const peer of peers) {
      if (byText(peer) !== byNumber(peer)) throw new Error(`${JSON.stringify(list)}: peer ${peer}`);
      const v4 = ipv4Number(peer);
      if (v4 !== -1 && matcher.ipv4!(v4) !== matcher.test(peer, 1)) throw new Error(`${JSON.stringify(list)}: ${peer}`);
      compared++;
    }
  }), { numRuns: 2000 });
  t.ok(compared > 2000, `${compared} addresses compared`);
});
