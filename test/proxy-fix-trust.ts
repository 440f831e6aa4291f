/** proxyFix with a trust list: the walk, hop by hop, as named cases. */
import t from 'tap';
import { createEnv, type EnvInit } from '../src/gateway.js';
import { explain } from '../src/middleware/proxy-fix/index.js';
import { checkCases, type FieldCase } from './fixtures/run.js';

// The app's peer is the inner proxy 10.0.0.2; proxies live in 10.0.0.0/8.
const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/' };
const trusted = ['10.0.0.0/8'];


const cases: FieldCase[] = [
  { name: 'a direct client changes nothing: untrusted peer', options: { trusted, xHost: 1, xPrefix: 1 },
    init: { remoteAddr: '203.0.113.66' },
    headers: { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-forwarded-prefix': '/evil' },
    expect: {} },
  { name: 'a trusted peer: the rightmost value', options: { trusted },
    headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' } },
  { name: 'Infinity walks past trusted hops to the first untrusted one', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.4, 10.0.0.3' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'a count bounds the walk even through trusted hops', options: { trusted, xFor: 2 },
    headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.4, 10.0.0.3' },
    expect: { remoteAddr: '10.0.0.4', remotePort: '' } },
  { name: 'the walk stops at an untrusted hop before the count', options: { trusted, xFor: 3 },
    headers: { 'x-forwarded-for': '6.6.6.6, 10.0.0.9, 203.0.113.7, 10.0.0.3' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'a walk deeper than xFor (for xHost) still gives xFor its own depth', options: { trusted, xFor: 1, xHost: 3 },
    headers: { 'x-forwarded-for': '6.6.6.6, 10.0.0.3', 'x-forwarded-host': 'outer.example, inner.example' },
    expect: { remoteAddr: '10.0.0.3', remotePort: '', host: 'outer.example', serverName: 'outer.example', serverPort: '80' } },
  { name: 'an outer proxy bypassed: xFor 2 takes the one value there is', options: { trusted, xFor: 2 },
    headers: { 'x-forwarded-for': '203.0.113.7' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'every hop trusted: the leftmost value', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '10.0.0.5, 10.0.0.3' },
    expect: { remoteAddr: '10.0.0.5', remotePort: '' } },
  { name: 'an invalid entry stops the walk and leaves the address alone', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '6.6.6.6, garbage, 10.0.0.3' },
    expect: {} },
  { name: 'an unknown entry stops the walk too', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '6.6.6.6, unknown, 10.0.0.3' },
    expect: {} },
  { name: 'an empty entry stops the walk', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '6.6.6.6, , 10.0.0.3' },
    expect: {} },
  { name: 'trusted hops with ports', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '203.0.113.7:4711, 10.0.0.3:5000' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '4711' } },
  { name: 'IPv4-mapped peer matches an IPv4 range', options: { trusted },
    init: { remoteAddr: '::ffff:10.0.0.2' }, headers: { 'x-forwarded-for': '203.0.113.7' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'IPv4-mapped hop matches an IPv4 range', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '203.0.113.7, ::ffff:10.0.0.3' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'IPv6 chain', options: { trusted: ['fd00::/8'], xFor: Infinity },
    init: { remoteAddr: 'fd00::2' }, headers: { 'x-forwarded-for': '2001:db8::7, [fd00::3]:80' },
    expect: { remoteAddr: '2001:db8::7', remotePort: '' } },
  { name: '::/1 in the list does not trust an IPv4 peer', options: { trusted: ['::/1'] },
    headers: { 'x-forwarded-for': '203.0.113.7' }, expect: {} },
  { name: 'a Unix socket peer is untrusted by default', options: { trusted: ['loopback'] },
    init: { remoteAddr: '' }, headers: { 'x-forwarded-for': '203.0.113.7' }, expect: {} },
  { name: 'a Unix socket peer with trustUnixSocket', options: { trusted: ['loopback'], trustUnixSocket: true },
    init: { remoteAddr: '' }, headers: { 'x-forwarded-for': '203.0.113.7' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'trustUnixSocket does not trust an addressed peer', options: { trusted: ['loopback'], trustUnixSocket: true },
    init: { remoteAddr: '203.0.113.66' }, headers: { 'x-forwarded-for': '203.0.113.7' }, expect: {} },
  { name: 'one trust decision governs proto and host too', options: { trusted: [], xHost: 1 },
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
    expect: {} },
  { name: 'proto follows the walk: outer proxy bypassed', options: { trusted, xFor: 2, xProto: 2 },
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'http' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'http' } },
  { name: 'proto at the depth the walk reached', options: { trusted, xFor: Infinity, xProto: Infinity, xHost: Infinity, symmetric: true },
    headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.3', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'example.com, inner' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com', serverName: 'example.com', serverPort: '443' } },
  { name: 'the client\'s own values left of the walk are never read', options: { trusted, xFor: Infinity, xProto: Infinity, symmetric: true },
    headers: { 'x-forwarded-for': '10.0.0.99, 203.0.113.7, 10.0.0.3', 'x-forwarded-proto': 'wss, https, http' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' } },
  { name: 'no X-Forwarded-For: only depth 1 of the other headers', options: { trusted, xProto: 3 },
    headers: { 'x-forwarded-proto': 'http, https' }, expect: { scheme: 'https' } },
  { name: 'a predicate sees each hop', options: { trusted: (addr, hop) => (hop === 0 ? addr === '10.0.0.2' : addr === '10.0.0.3'), xFor: Infinity },
    headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.4, 10.0.0.3' },
    expect: { remoteAddr: '10.0.0.4', remotePort: '' } },
  { name: 'named ranges', options: { trusted: 'loopback, private', xFor: Infinity },
    init: { remoteAddr: '127.0.0.1' }, headers: { 'x-forwarded-for': '203.0.113.7, 192.168.1.1, 172.16.0.1' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'walks at most 64 hops', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': Array.from({ length: 70 }, (_, i) => `10.0.1.${i}`).join(', ') },
    expect: { remoteAddr: '10.0.1.6', remotePort: '' } },

  // symmetric
  { name: 'symmetric: equal counts apply', options: { symmetric: true, xFor: 2, xProto: 2 },
    headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.3', 'x-forwarded-proto': 'https, http' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' } },
  { name: 'symmetric: a header with more values applies nothing', options: { symmetric: true, xFor: 1, xProto: 1 },
    headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https' }, expect: {} },
  { name: 'symmetric: a stripped header applies nothing', options: { symmetric: true, xFor: 1, xProto: 1, xHost: 1 },
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }, expect: {} },
  // Node reports a link-local peer with its zone; the zone names this host's interface.
  { name: 'a link-local proxy, zone and all as node reports it, is trusted', options: { trusted: ['linklocal'] },
    init: { remoteAddr: 'fe80::1%eth0' }, headers: { 'x-forwarded-for': '203.0.113.7' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'a zone on an untrusted peer does not make it trusted', options: { trusted: ['fe80::2'] },
    init: { remoteAddr: 'fe80::1%eth0' }, headers: { 'x-forwarded-for': '203.0.113.7' }, expect: {} },
  { name: 'a zone in a header value stays invalid: the walk stops there', options: { trusted: ['linklocal'], xFor: Infinity },
    init: { remoteAddr: 'fe80::1%eth0' }, headers: { 'x-forwarded-for': '203.0.113.7, fe80::2%eth0' }, expect: {} },
  { name: 'the unspecified address in another spelling is no client', options: { trusted, xFor: Infinity },
    headers: { 'x-forwarded-for': '::ffff:0:0' }, expect: {} },
  { name: 'symmetric: disabled headers are not counted', options: { symmetric: true, xFor: 1, xProto: 0 },
    headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https, http' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
];

t.test('named cases', (t) => checkCases(t, base, cases));

t.test('the trace shows the walk and why each field was (not) used', async (t) => {
  const env = createEnv({ ...base, headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.3', 'x-forwarded-proto': 'https, http' } });
  const trace = explain(env, { trusted, xFor: Infinity, xProto: 3 });
  t.equal(trace.peerTrusted, true);
  t.same(trace.walk, [
    { depth: 1, value: '10.0.0.3', trusted: true },
    { depth: 2, value: '203.0.113.7', trusted: false },
  ]);
  t.match(trace.fields[0], { outcome: 'used', depth: 2, value: '203.0.113.7', detail: /client address 203\.0\.113\.7; the walk stopped at depth 2$/ });
  t.match(trace.fields[1], { outcome: 'used', depth: 2, value: 'https', detail: /the walk stopped at depth 2 of 3/ });

  const direct = explain(createEnv({ ...base, remoteAddr: '203.0.113.66', headers: { 'x-forwarded-for': '1.2.3.4' } }), { trusted });
  t.equal(direct.peerTrusted, false);
  t.same(direct.walk, []);
  t.match(direct.fields[0], { outcome: 'untrusted', used: false, detail: /203\.0\.113\.66 is not in the trust list/ });
  const unix = explain(createEnv({ ...base, remoteAddr: '', headers: { 'x-forwarded-for': '1.2.3.4' } }), { trusted });
  t.match(unix.fields[0], { outcome: 'untrusted', detail: /Unix socket/ });

  const blind = explain(env, {});
  t.equal(blind.peerTrusted, null);
  t.equal(blind.walk, null);

  const asymmetric = explain(createEnv({ ...base, headers: { 'x-forwarded-for': '1.2.3.4, 5.6.7.8' } }), { symmetric: true });
  t.same(asymmetric.fields.map((f) => f.outcome), ['asymmetric', 'asymmetric', 'disabled', 'disabled', 'disabled']);
  t.same(asymmetric.changed, {});
});

t.test('configuration rules for trust', async (t) => {
  const app = () => ({ status: 204 });
  const { proxyFix } = await import('../src/middleware/proxy-fix/index.js');
  t.throws(() => proxyFix(app, { xFor: Infinity }), { option: 'xFor', code: 'ERR_PROXYFIX_OPTION_RANGE' });
  t.doesNotThrow(() => proxyFix(app, { xFor: Infinity, trusted: [] }));
  t.throws(() => proxyFix(app, { trustUnixSocket: true }), { option: 'trustUnixSocket', code: 'ERR_PROXYFIX_OPTION_CONFLICT' });
  t.throws(() => proxyFix(app, { trustUnixSocket: 1 as never, trusted }), { option: 'trustUnixSocket', code: 'ERR_PROXYFIX_OPTION_TYPE' });
  t.throws(() => proxyFix(app, { symmetric: 'yes' as never }), { option: 'symmetric', code: 'ERR_PROXYFIX_OPTION_TYPE' });
  t.throws(() => proxyFix(app, { trusted: ['10.0.0.0/8', 'nope'] }), { option: 'trusted[1]', code: 'ERR_PROXYFIX_TRUST_ENTRY' });
  t.throws(() => proxyFix(app, { trusted: 5 as never }), { option: 'trusted', code: 'ERR_PROXYFIX_OPTION_TYPE' });

  // xFor 0 leaves X-Forwarded-For unread, so nothing names the hops a deeper count would trust.
  t.throws(() => proxyFix(app, { xFor: 0, xProto: 2, xHost: 2, xPrefix: 2, trusted }),
    { name: 'TypeError', option: 'xProto', code: 'ERR_PROXYFIX_OPTION_CONFLICT', message: /`xFor: 0`.*Set xFor to 1 or more, or xProto to 1/ });
  t.throws(() => proxyFix(app, { xFor: 0, xPrefix: Infinity, trusted }), { option: 'xPrefix', code: 'ERR_PROXYFIX_OPTION_CONFLICT' });
  t.doesNotThrow(() => proxyFix(app, { xFor: 0, xProto: 1, xHost: 1, trusted }), 'depth 1 needs only the peer');
  t.doesNotThrow(() => proxyFix(app, { xFor: 0, xProto: 2 }), 'without trusted, counts are believed as they are');
  t.doesNotThrow(() => proxyFix(app, { forwarded: 2, xPrefix: 2, trusted }), 'Forwarded elements name the hops');

  // Infinity for another header is right only if every trusted hop appends to it: symmetric checks that.
  t.throws(() => proxyFix(app, { xFor: Infinity, xProto: Infinity, trusted }),
    { option: 'xProto', code: 'ERR_PROXYFIX_OPTION_CONFLICT', message: /only if every one of them appends to x-forwarded-proto.*symmetric: true/ });
  t.throws(() => proxyFix(app, { xFor: 2, xHost: Infinity, trusted }), { option: 'xHost', code: 'ERR_PROXYFIX_OPTION_CONFLICT' });
  t.throws(() => proxyFix(app, { forwarded: Infinity, xPrefix: Infinity, trusted }), { option: 'xPrefix', code: 'ERR_PROXYFIX_OPTION_CONFLICT' });
  t.doesNotThrow(() => proxyFix(app, { xFor: Infinity, xProto: Infinity, xHost: Infinity, symmetric: true, trusted }));
  t.doesNotThrow(() => proxyFix(app, { forwarded: Infinity, trusted }));
});

t.test('with xFor 0 and counts of 1, only the peer\'s own values are read, whatever X-Forwarded-For says', async (t) => {
  const options = { xFor: 0, xProto: 1, xHost: 1, xPrefix: 1, trusted };
  const env = createEnv({ ...base, headers: {
    'x-forwarded-for': '10.0.0.3', 'x-forwarded-proto': 'javascript, https', 'x-forwarded-host': 'evil.example, example.com',
    'x-forwarded-prefix': '/evil, /app',
  } });
  const trace = explain(env, options);
  t.same(trace.changed, { scheme: 'https', host: 'example.com', serverName: 'example.com', serverPort: '443', scriptName: '/app' });
});

t.test('misconfiguration is visible: rate-limited process warnings', async (t) => {
  const { proxyFix } = await import('../src/middleware/proxy-fix/index.js');
  const warnings: Error[] = [];
  const listener = (warning: Error) => warnings.push(warning);
  process.on('warning', listener);
  t.teardown(() => { process.off('warning', listener); });
  const app = proxyFix(() => ({ status: 204 }), { trusted, xFor: 2, xProto: 1 });
  const direct = { ...base, remoteAddr: '172.17.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } };
  for (let i = 0; i < 3; i++) await app(createEnv(direct));
  await app(createEnv({ ...base, remoteAddr: '', headers: { 'x-forwarded-proto': 'https' } }));
  const unix = proxyFix(() => ({ status: 204 }), { trusted });
  await unix(createEnv({ ...base, remoteAddr: '', headers: { 'x-forwarded-proto': 'https' } }));
  const counted = proxyFix(() => ({ status: 204 }), { xFor: 2 });
  await counted(createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.7' } }));
  await counted(createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.8' } }));
  const quiet = proxyFix(() => ({ status: 204 }), { xFor: 2, warnings: false });
  await quiet(createEnv({ ...base, headers: { 'x-forwarded-for': '203.0.113.7' } }));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(warnings.map((w) => (w as Error & { code: string }).code), ['PROXYFIX_UNTRUSTED_PEER', 'PROXYFIX_UNTRUSTED_PEER', 'PROXYFIX_TOO_FEW_VALUES'],
    'one of each kind per proxyFix, however many requests');
  t.match(warnings[0]!.message, /from 172\.17\.0\.1 carried x-forwarded-for, but that peer is not in `trusted`/);
  t.match(warnings[1]!.message, /from a Unix socket carried x-forwarded-proto/);
  t.match(warnings[2]!.message, /xFor is 2, but a request's x-forwarded-for had fewer values/);
  t.throws(() => proxyFix(() => ({ status: 204 }), { warnings: 'no' as never }), { option: 'warnings', code: 'ERR_PROXYFIX_OPTION_TYPE' });
});
