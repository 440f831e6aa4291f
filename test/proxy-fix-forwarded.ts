/** proxyFix reading RFC 7239 `Forwarded`: the RFC's examples, parser tricks, and family rules. */
import t from 'tap';
import { createEnv, type EnvInit } from '../src/gateway.js';
import { explain } from '../src/middleware/proxy-fix/index.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { ForwardedFromRight, parseNode } from '../src/net/forwarded.js';
import { checkCases, type FieldCase } from './fixtures/run.js';

const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/' };
const trusted = ['10.0.0.0/8'];


const one = { forwarded: 1 };
const cases: FieldCase[] = [
  // RFC 7239 section 4 and 7 examples
  { name: 'RFC: quoted IPv6 with a port', options: one, headers: { forwarded: 'For="[2001:db8:cafe::17]:4711"' },
    expect: { remoteAddr: '2001:db8:cafe::17', remotePort: '4711' } },
  { name: 'RFC: for, proto and by together', options: one, headers: { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' },
    expect: { remoteAddr: '192.0.2.60', remotePort: '' } },
  { name: 'RFC: two elements, the last one counts', options: one, headers: { forwarded: 'for=192.0.2.43, for=198.51.100.17' },
    expect: { remoteAddr: '198.51.100.17', remotePort: '' } },
  { name: 'RFC: two elements, forwarded 2', options: { forwarded: 2 }, headers: { forwarded: 'for=192.0.2.43, for=198.51.100.17' },
    expect: { remoteAddr: '192.0.2.43', remotePort: '' } },
  { name: 'RFC: an obfuscated node leaves the address alone', options: one, headers: { forwarded: 'for="_gazonk"' }, expect: {} },
  { name: 'RFC: unknown leaves the address, proto still applies', options: one, headers: { forwarded: 'for=unknown;proto=https' },
    expect: { scheme: 'https' } },
  { name: 'an obfuscated port keeps the address', options: one, headers: { forwarded: 'for="[2001:db8::1]:_p1"' },
    expect: { remoteAddr: '2001:db8::1', remotePort: '' } },
  { name: 'IPv4 with an obfuscated port', options: one, headers: { forwarded: 'for="192.0.2.1:_p"' },
    expect: { remoteAddr: '192.0.2.1', remotePort: '' } },
  { name: 'IPv4 with a port', options: one, headers: { forwarded: 'for="192.0.2.1:8080"' },
    expect: { remoteAddr: '192.0.2.1', remotePort: '8080' } },
  { name: 'for, proto and host come from the same element', options: one,
    headers: { forwarded: 'for=6.6.6.6;proto=http;host=evil.example, for=203.0.113.7;proto=https;host=example.com' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com', serverName: 'example.com', serverPort: '443' } },
  { name: 'a missing proto in the element read is not taken from another element', options: { forwarded: 2 },
    headers: { forwarded: 'for=203.0.113.7, for=10.0.0.3;proto=https' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'host with a port', options: one, headers: { forwarded: 'host="example.com:8443";proto=https' },
    expect: { host: 'example.com:8443', serverName: 'example.com', serverPort: '8443', scheme: 'https' } },
  { name: 'parameter names ignore case', options: one, headers: { forwarded: 'FOR=203.0.113.7;Proto=HTTPS' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' } },
  { name: 'repeated header lines are one list', options: { forwarded: 2 }, headers: { forwarded: ['for=6.6.6.6', 'for=203.0.113.7', 'for=10.0.0.3'] },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'spaces around elements and after semicolons', options: one, headers: { forwarded: ' for=6.6.6.6 ,  for=203.0.113.7; proto=https ' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' } },
  { name: 'fewer elements than the count: ignored', options: { forwarded: 3 }, headers: { forwarded: 'for=192.0.2.43, for=198.51.100.17' }, expect: {} },

  // Parser tricks
  { name: 'Rack CVE-2026-32762: a ; inside a quoted for', options: one, headers: { forwarded: 'for="3.4.5.6;host=evil.com"' }, expect: {} },
  { name: 'a quoted comma does not split elements', options: one, headers: { forwarded: 'for=203.0.113.7;user="bad,for=6.6.6.6"' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'an escaped quote inside a quoted value', options: one, headers: { forwarded: 'for=203.0.113.7;note="a\\",for=6.6.6.6"' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'a client\'s unbalanced quote cannot swallow the proxy\'s element', options: one, headers: { forwarded: 'for="6.6.6.6, for=203.0.113.7' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'an unbalanced quote in the element read: invalid', options: one, headers: { forwarded: 'for=203.0.113.7, for="10.0.0.3' }, expect: {} },
  { name: 'a duplicate parameter: invalid', options: one, headers: { forwarded: 'for=203.0.113.7;for=6.6.6.6' }, expect: {} },
  { name: 'a duplicate proto: invalid', options: one, headers: { forwarded: 'for=203.0.113.7;proto=https;PROTO=http' }, expect: {} },
  { name: 'an empty pair: invalid', options: one, headers: { forwarded: 'for=203.0.113.7;;proto=https' }, expect: {} },
  { name: 'a trailing semicolon: invalid', options: one, headers: { forwarded: 'for=203.0.113.7;' }, expect: {} },
  { name: 'an empty element: invalid', options: one, headers: { forwarded: 'for=203.0.113.7, ' }, expect: {} },
  { name: 'an unbracketed IPv6 for: invalid', options: one, headers: { forwarded: 'for="2001:db8::1"' }, expect: {} },
  { name: 'an unquoted bracket: invalid', options: one, headers: { forwarded: 'for=[2001:db8::1]' }, expect: {} },
  { name: 'a name as for: invalid', options: one, headers: { forwarded: 'for=localhost' }, expect: {} },
  { name: 'an invalid host in the element', options: one, headers: { forwarded: 'for=203.0.113.7;host="evil.example/x"' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'an element longer than 512 characters: invalid', options: one, headers: { forwarded: `for=203.0.113.7;x="${'a'.repeat(600)}"` }, expect: {} },
  { name: 'thousands of elements: only the last is read', options: one,
    headers: { forwarded: `${'for=6.6.6.6, '.repeat(5000)}for=203.0.113.7` }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'an empty header is absent', options: one, headers: { forwarded: ' ' }, expect: {} },

  // With trust
  { name: 'trust walk through Forwarded elements, fields from one element', options: { forwarded: Infinity, trusted },
    headers: { forwarded: 'for=6.6.6.6;proto=http, for=203.0.113.7;proto=https;host=example.com, for=10.0.0.3;proto=http;host=inner' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com', serverName: 'example.com', serverPort: '443' } },
  { name: 'a direct client sending Forwarded changes nothing', options: { forwarded: 1, trusted },
    init: { remoteAddr: '203.0.113.66' }, headers: { forwarded: 'for=1.2.3.4;proto=https;host=evil.example' }, expect: {} },
  { name: 'a malformed element stops the walk: nothing is taken from it or beyond', options: { forwarded: Infinity, trusted },
    headers: { forwarded: 'for=6.6.6.6, for=203.0.113.7;;, for=10.0.0.3;proto=https' }, expect: {} },
  { name: 'a malformed element right of a trusted one is never skipped over', options: { forwarded: 3, trusted },
    headers: { forwarded: 'for=203.0.113.7;proto=https, for=10.0.0.4;for=10.0.0.5, for=10.0.0.3' },
    expect: {} },
  { name: 'an unknown hop stops the walk', options: { forwarded: Infinity, trusted },
    headers: { forwarded: 'for=203.0.113.7, for=unknown;proto=https, for=10.0.0.3' }, expect: { scheme: 'https' } },
  { name: 'an element without for stops the walk', options: { forwarded: Infinity, trusted },
    headers: { forwarded: 'for=203.0.113.7, proto=https, for=10.0.0.3' }, expect: { scheme: 'https' } },
  { name: 'every element trusted: the leftmost', options: { forwarded: Infinity, trusted },
    headers: { forwarded: 'for=10.0.0.5, for=10.0.0.3' }, expect: { remoteAddr: '10.0.0.5', remotePort: '' } },
  { name: 'bypassed outer proxy: forwarded 2 takes the single element', options: { forwarded: 2, trusted },
    headers: { forwarded: 'for=203.0.113.7;proto=http' }, expect: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'http' } },

  // Families
  { name: 'with forwarded, X-Forwarded-* are ignored', options: one,
    headers: { forwarded: 'for=203.0.113.7', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-forwarded-port': '1' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'with X-Forwarded-*, Forwarded is ignored', options: {},
    headers: { forwarded: 'for=6.6.6.6;proto=https', 'x-forwarded-for': '203.0.113.7' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
  { name: 'xPrefix joins forwarded', options: { forwarded: 1, xPrefix: 1 },
    headers: { forwarded: 'for=203.0.113.7', 'x-forwarded-prefix': '/app/' },
    expect: { remoteAddr: '203.0.113.7', remotePort: '', scriptName: '/app' } },
  { name: 'xFor 0 may be written out with forwarded', options: { forwarded: 1, xFor: 0 },
    headers: { forwarded: 'for=203.0.113.7' }, expect: { remoteAddr: '203.0.113.7', remotePort: '' } },
];

t.test('named cases', (t) => checkCases(t, base, cases));

t.test('the trace for Forwarded', async (t) => {
  const headers = { forwarded: 'for=unknown;proto=https, for=_x;host=a.com;;', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-port': '1' };
  const trace = explain(createEnv({ ...base, headers }), { forwarded: 2 });
  t.equal(trace.family, 'forwarded');
  t.same(trace.fields.map((f) => [f.field, f.header, f.outcome]), [
    ['for', 'forwarded', 'hidden'],
    ['proto', 'forwarded', 'used'],
    ['host', 'forwarded', 'absent'],
    ['prefix', 'x-forwarded-prefix', 'disabled'],
    ['for', 'x-forwarded-for', 'family-not-chosen'],
    ['port', 'x-forwarded-port', 'family-not-chosen'],
  ]);
  t.match(trace.fields[0]!.detail, /reported the client as unknown/);
  t.match(trace.fields[2]!.detail, /has no host parameter/);
  t.match(trace.fields[4]!.detail, /forwarded is set, so x-forwarded-for is ignored/);
  const malformed = explain(createEnv({ ...base, headers: { forwarded: 'for=1.2.3.4;;' } }), one);
  t.match(malformed.fields[0], { outcome: 'invalid', detail: /does not parse/ });
  const tooFew = explain(createEnv({ ...base, headers: { forwarded: 'for=1.2.3.4' } }), { forwarded: 2 });
  t.match(tooFew.fields[0], { outcome: 'too-few-values', detail: /fewer elements/ });
  const absent = explain(createEnv(base), one);
  t.match(absent.fields[0], { outcome: 'absent', detail: 'no forwarded header' });
  const other = explain(createEnv({ ...base, headers: { forwarded: 'for=1.2.3.4' } }), {});
  t.match(other.fields.at(-1), { header: 'forwarded', outcome: 'family-not-chosen', detail: /Forwarded is ignored/ });
});

t.test('one family per deployment', async (t) => {
  const app = () => ({ status: 204 });
  for (const option of ['xFor', 'xProto', 'xHost', 'xPort'] as const) {
    t.throws(() => proxyFix(app, { forwarded: 1, [option]: 1 }), { name: 'TypeError', option, code: 'ERR_PROXYFIX_OPTION_CONFLICT', message: /cannot be combined with `forwarded`/ });
  }
  t.throws(() => proxyFix(app, { forwarded: 1, symmetric: true }), { option: 'symmetric', code: 'ERR_PROXYFIX_OPTION_CONFLICT' });
  t.throws(() => proxyFix(app, { forwarded: -1 }), { option: 'forwarded', code: 'ERR_PROXYFIX_OPTION_RANGE' });
  t.throws(() => proxyFix(app, { forwarded: Infinity }), { option: 'forwarded', message: /only together with `trusted`/ });
});

t.test('elements from the right', async (t) => {
  const reader = new ForwardedFromRight('for=a, for="b,c";by=x ,,for="d\\\\"');
  t.same(reader.next(), { text: 'for="d\\\\"', params: { for: 'd\\' } }, 'an escaped backslash before the closing quote');
  t.same(reader.next(), { text: '', params: undefined });
  t.same(reader.next(), { text: 'for="b,c";by=x', params: { for: 'b,c', by: 'x' } });
  t.same(reader.next(), { text: 'for=a', params: { for: 'a' } });
  t.equal(reader.next(), undefined);
  t.same(new ForwardedFromRight('for=a, b').next(), { text: 'b', params: undefined }, 'not a pair');
  t.same(new ForwardedFromRight('for=a,').next(), { text: '', params: undefined });
  t.same(parseNode('UNKNOWN'), { kind: 'unknown' });
  t.same(parseNode('_a.b-c_1'), { kind: 'obfuscated' });
  t.equal(parseNode('_'), undefined);
  t.equal(parseNode('x:_p'), undefined);
  t.equal(parseNode('[::1:_p'), undefined);
  t.equal(parseNode('1.2.3.4:99999'), undefined);
});
