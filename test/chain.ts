/**
 * The chain model and its picture: named cases built from real proxyFix traces (through the
 * inspection app's JSON answer, as the page builds them), and properties over the SVG that no
 * request value can break out of.
 */
import fc from 'fast-check';
import t from 'tap';
import { chainOf, MAX_PROXIES, type Chain, type ChainHop, type ChainInput } from '../src/chain.js';
import { chainSvg, escapeXml, wrap } from '../src/chain-svg.js';
import { createEnv, type EnvInit, type GatewayApp } from '../src/gateway.js';
import { proxyFix, type ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { inspectApp, type Inspection } from '../src/server/inspect.js';

/** A request from peer 10.0.0.2 to the app server at app.internal:8000. */
const base: EnvInit = { remoteAddr: '10.0.0.2', remotePort: '50000', host: 'app.internal:8000', url: '/users/1' };

/** The chain of a request through `options` (no proxyFix when `null`), from the inspection app's JSON answer. */
async function chainFor(options: ProxyFixOptions | null, init: EnvInit): Promise<Chain> {
  const app: GatewayApp = options === null ? inspectApp() : proxyFix(inspectApp(), { warnings: false, ...options, trace: true });
  const response = await app(createEnv({ ...base, ...init }));
  const inspection = JSON.parse(response.body as string) as Inspection;
  return chainOf({ ...inspection, headers: inspection.request.headers });
}

/** The hops without the app, as [role, address, trusted, wrote]. */
function senders(chain: Chain): [ChainHop['role'], string | null, boolean | null, Record<string, string>][] {
  return chain.hops.slice(0, -1).map((hop) => [hop.role, hop.address, hop.trusted, hop.wrote]);
}

t.test('named cases', async (t) => {
  t.test('no proxyFix trace: the peer is all there is', async (t) => {
    const chain = await chainFor(null, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    t.same(senders(chain), [['client', '10.0.0.2', null, {}]]);
    t.same(chain.hops.at(-1), { role: 'app', address: 'app.internal:8000', trusted: null, wrote: {} });
    t.equal(chain.stoppedAt, null);
    t.match(chain.reason, /^No decision trace/);
  });

  t.test('blind counts: every value a hop, the count decides where the client is', async (t) => {
    const chain = await chainFor({ xFor: 1, xProto: 1 }, {
      headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https' },
    });
    t.same(senders(chain), [
      ['client', '6.6.6.6', null, {}],
      ['proxy', '203.0.113.7', null, { 'x-forwarded-for': '6.6.6.6' }],
      ['proxy', '10.0.0.2', null, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' }],
    ]);
    t.equal(chain.stoppedAt, 1, 'the app took 203.0.113.7 as its client; 6.6.6.6, left of it, was not believed');
    t.equal(chain.reason, 'x-forwarded-for: client address 203.0.113.7 (xFor 1, value 1 from the right)');
    t.same(chain.hops.at(-1), {
      role: 'app', address: 'app.internal:8000', trusted: null,
      wrote: { remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https' },
    });
    t.equal(chain.omitted, 0);
  });

  t.test('a trust walk stopping at an untrusted hop', async (t) => {
    const chain = await chainFor({ xFor: 3, trusted: ['10.0.0.0/8'] }, {
      headers: { 'x-forwarded-for': '203.0.113.7, 6.6.6.6, 10.0.0.3' },
    });
    t.same(senders(chain), [
      ['client', '203.0.113.7', null, {}],
      ['proxy', '6.6.6.6', false, { 'x-forwarded-for': '203.0.113.7' }],
      ['proxy', '10.0.0.3', true, { 'x-forwarded-for': '6.6.6.6' }],
      ['proxy', '10.0.0.2', true, { 'x-forwarded-for': '10.0.0.3' }],
    ]);
    t.equal(chain.stoppedAt, 1);
    t.equal(chain.reason, 'x-forwarded-for: client address 6.6.6.6; the walk stopped at depth 2 of 3 (xFor 3, value 2 from the right); ' +
      '6.6.6.6 is not in the trust list, so it is the client');
  });

  t.test('a trust walk that ends at its count: the client is not checked', async (t) => {
    const chain = await chainFor({ xFor: 2, trusted: ['10.0.0.0/8'] }, { headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.3' } });
    t.same(senders(chain).map(([, address, trusted]) => [address, trusted]), [['203.0.113.7', null], ['10.0.0.3', true], ['10.0.0.2', true]]);
    t.equal(chain.stoppedAt, 0);
    t.equal(chain.reason, 'x-forwarded-for: client address 203.0.113.7 (xFor 2, value 2 from the right)');
  });

  t.test('Forwarded elements: each element is what one proxy wrote', async (t) => {
    const chain = await chainFor({ forwarded: 2 }, {
      headers: { forwarded: 'for=203.0.113.7;proto=https, for="[2001:db8::1]:4711";host=example.com', 'x-forwarded-for': '6.6.6.6' },
    });
    t.same(senders(chain), [
      ['client', '203.0.113.7', null, {}],
      ['proxy', '[2001:db8::1]:4711', null, { forwarded: 'for=203.0.113.7;proto=https' }],
      ['proxy', '10.0.0.2', null, { forwarded: 'for="[2001:db8::1]:4711";host=example.com' }],
    ], 'and the X-Forwarded-For of the family not chosen is no hop');
    t.equal(chain.stoppedAt, 0);
  });

  t.test('a Unix-socket peer: no address, untrusted without trustUnixSocket', async (t) => {
    const chain = await chainFor({ trusted: ['loopback'] }, { remoteAddr: '', remotePort: '', headers: { 'x-forwarded-for': '203.0.113.7' } });
    t.same(senders(chain), [
      ['client', '203.0.113.7', null, {}],
      ['proxy', null, false, { 'x-forwarded-for': '203.0.113.7' }],
    ]);
    t.equal(chain.stoppedAt, 1, 'nothing taken: the app\'s client is the peer');
    t.equal(chain.reason, 'x-forwarded-for: the peer is a Unix socket, trusted only with trustUnixSocket');
  });

  t.test('an untrusted peer: the walk stops at once', async (t) => {
    const chain = await chainFor({ trusted: ['10.0.0.0/8'] }, { remoteAddr: '198.51.100.9', headers: { 'x-forwarded-for': '6.6.6.6' } });
    t.same(senders(chain).map(([role, address, trusted]) => [role, address, trusted]), [['client', '6.6.6.6', null], ['proxy', '198.51.100.9', false]]);
    t.equal(chain.stoppedAt, 1);
    t.equal(chain.reason, 'x-forwarded-for: the peer 198.51.100.9 is not in the trust list: a client reached the app directly');
    t.same(chain.hops.at(-1)!.wrote, {}, 'the app sees what the socket told it');
  });

  t.test('a hidden node: for=unknown has no address, an obfuscated one is shown as written', async (t) => {
    const unknown = await chainFor({ forwarded: 1 }, { headers: { forwarded: 'for=unknown;proto=https' } });
    t.same(senders(unknown), [['client', null, null, {}], ['proxy', '10.0.0.2', null, { forwarded: 'for=unknown;proto=https' }]]);
    t.equal(unknown.stoppedAt, 0);
    t.equal(unknown.reason, 'forwarded: the proxy reported the client as unknown: for left unchanged');
    const obfuscated = await chainFor({ forwarded: 1 }, { headers: { forwarded: 'for=_hidden' } });
    t.equal(obfuscated.hops[0]!.address, '_hidden');
  });

  t.test('a malformed Forwarded element and an empty X-Forwarded-For value name no address', async (t) => {
    const malformed = await chainFor({ forwarded: 1 }, { headers: { forwarded: 'for="unbalanced' } });
    t.same(senders(malformed), [['client', null, null, {}], ['proxy', '10.0.0.2', null, { forwarded: 'for="unbalanced' }]]);
    t.match(malformed.reason, /^forwarded: the Forwarded element at that depth does not parse/);
    const empty = await chainFor({ xFor: 1 }, { headers: { 'x-forwarded-for': '203.0.113.7, , 10.0.0.3' } });
    t.same(senders(empty).map(([, address]) => address), ['203.0.113.7', null, '10.0.0.3', '10.0.0.2']);
  });

  t.test('no addresses: the proxies are as many as a counted header has values', async (t) => {
    const chain = await chainFor({}, { headers: { 'x-forwarded-proto': 'https' } });
    t.same(senders(chain), [['client', null, null, {}], ['proxy', '10.0.0.2', null, { 'x-forwarded-proto': 'https' }]]);
    t.equal(chain.stoppedAt, 1, 'the app\'s client is the peer');
    t.equal(chain.reason, 'x-forwarded-for: no x-forwarded-for header');
  });

  t.test('no forwarded header at all: the peer is the client', async (t) => {
    const chain = await chainFor({}, {});
    t.same(senders(chain), [['client', '10.0.0.2', null, {}]]);
    t.equal(chain.stoppedAt, 0);
  });

  t.test('values deeper than the proxies named: the client wrote them', async (t) => {
    const chain = await chainFor({ xFor: 1 }, {
      headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'a.example, b.example, c.example' },
    });
    t.same(senders(chain), [
      ['client', '203.0.113.7', null, { 'x-forwarded-host': 'a.example, b.example' }],
      ['proxy', '10.0.0.2', null, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'c.example' }],
    ]);
    const none = await chainFor({ xFor: 0 }, { headers: { 'x-forwarded-host': 'a.example' } });
    t.same(senders(none), [['client', '10.0.0.2', null, { 'x-forwarded-host': 'a.example' }]], 'with no proxy, the peer wrote them');
    t.equal(none.reason, 'x-forwarded-for: xFor is 0: not read');
  });

  t.test('fewer values than the count, and an invalid value', async (t) => {
    const few = await chainFor({ xFor: 2 }, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    t.equal(few.stoppedAt, 1, 'the peer');
    t.match(few.reason, /^x-forwarded-for: xFor is 2 but x-forwarded-for has fewer values/);
    const invalid = await chainFor({ xFor: 1 }, { headers: { 'x-forwarded-for': 'evil.example' } });
    t.same(senders(invalid)[0], ['client', 'evil.example', null, {}]);
    t.equal(invalid.stoppedAt, 0, 'the walk stopped at the invalid value');
    t.equal(invalid.reason, 'x-forwarded-for: "evil.example" is not a valid for value; left unchanged');
  });

  t.test(`a header naming more than ${MAX_PROXIES} proxies: the rest are counted, not drawn`, async (t) => {
    const values = Array.from({ length: 40 }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    const chain = await chainFor({ xFor: 20, trusted: ['10.0.0.0/8'] }, { headers: { 'x-forwarded-for': values.join(', ') } });
    t.equal(chain.hops.length, MAX_PROXIES + 2);
    t.equal(chain.omitted, 40 - MAX_PROXIES);
    t.equal(chain.hops[0]!.address, values[0], 'the client is the leftmost value');
    t.equal(chain.hops[1]!.address, values[40 - MAX_PROXIES + 1], 'the deepest proxy drawn');
    t.equal(chain.stoppedAt, 0, 'a walk deeper than drawn is marked at the client side');
    t.ok(chain.hops.slice(1, -1).every((hop) => hop.trusted === true));
  });

  t.test('a trace that says nothing about the client address', async (t) => {
    const fields = { remoteAddr: '10.0.0.2', remotePort: '', scheme: 'http', host: '', serverName: 'app', serverPort: '80', scriptName: '', pathInfo: '/', queryString: '' };
    const input: ChainInput = {
      before: fields, after: fields, headers: {},
      trace: { family: 'x-forwarded', peer: '10.0.0.2', peerTrusted: null, walk: null, fields: [], changed: {} },
    };
    const chain = chainOf(input);
    t.same(chain.hops.map((hop) => hop.address), ['10.0.0.2', null], 'an app without a Host has no address');
    t.equal(chain.stoppedAt, 0);
    t.equal(chain.reason, 'the trace does not say how the client address was chosen');
  });
});

/** The elements and attributes a chain picture may use; anything else would be markup from a value. */
const ELEMENTS = new Set(['svg', 'title', 'g', 'rect', 'path', 'text']);
const ATTRIBUTES = new Set([
  'xmlns', 'class', 'width', 'height', 'viewBox', 'font-family', 'font-size', 'font-weight', 'text-anchor', 'fill', 'stroke',
  'stroke-width', 'stroke-dasharray', 'x', 'y', 'rx', 'd', 'data-hop', 'data-role', 'data-trusted',
]);

/**
 * Tokenises `svg` as XML and fails on anything not well-formed or not allowed: text with a `<` or a
 * bare `&`, an attribute value with `"`, `<` or a bare `&`, an element or attribute outside the
 * lists, unbalanced tags. Returns the elements' names and attributes in order.
 */
function parseSvg(svg: string): { name: string; attributes: Record<string, string> }[] {
  const elements: { name: string; attributes: Record<string, string> }[] = [];
  const open: string[] = [];
  const reference = /&(?:#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);/gi;
  const cleanText = (text: string) => !/[<&]/.test(text.replace(reference, ''));
  const tag = /<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z-]+="[^"]*")*)\s*(\/?)>/y;
  const attribute = /\s+([a-zA-Z-]+)="([^"]*)"/g;
  let at = 0;
  while (at < svg.length) {
    const lt = svg.indexOf('<', at);
    const text = svg.slice(at, lt === -1 ? svg.length : lt);
    if (!cleanText(text)) throw new Error(`bad text ${JSON.stringify(text)}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const match = tag.exec(svg);
    if (match === null) throw new Error(`not a tag at ${lt}: ${JSON.stringify(svg.slice(lt, lt + 60))}`);
    const [whole, closing, name, attributeText, selfClosing] = match;
    if (!ELEMENTS.has(name!)) throw new Error(`element ${name}`);
    if (closing) {
      if (open.pop() !== name) throw new Error(`unbalanced </${name}>`);
    } else {
      const attributes: Record<string, string> = {};
      for (const [, key, value] of attributeText!.matchAll(attribute)) {
        if (!ATTRIBUTES.has(key!)) throw new Error(`attribute ${key}`);
        if (!cleanText(value!)) throw new Error(`bad attribute value ${JSON.stringify(value)}`);
        attributes[key!] = value!;
      }
      elements.push({ name: name!, attributes });
      if (!selfClosing) open.push(name!);
    }
    at = lt + whole.length;
  }
  if (open.length > 0 || elements[0]?.name !== 'svg') throw new Error(`not one svg element: ${open.join(' ')}`);
  return elements;
}

t.test('the picture', async (t) => {
  t.test('one node per hop, trust in words and outline, the stop marked', async (t) => {
    const chain = await chainFor({ xFor: 3, xProto: 1, trusted: ['10.0.0.0/8'] }, {
      headers: { 'x-forwarded-for': '203.0.113.7, 6.6.6.6, 10.0.0.3', 'x-forwarded-proto': 'https' },
    });
    const svg = chainSvg(chain);
    const elements = parseSvg(svg);
    const hops = elements.filter((element) => element.attributes['data-hop'] !== undefined);
    t.same(hops.map((hop) => [hop.attributes['data-hop'], hop.attributes['data-role'], hop.attributes['data-trusted']]), [
      ['0', 'client', 'null'], ['1', 'proxy', 'false'], ['2', 'proxy', 'true'], ['3', 'proxy', 'true'], ['4', 'app', undefined],
    ]);
    t.match(hops[0]!.attributes.class, /\bignored\b/, 'left of the stop: not believed');
    t.notMatch(hops[1]!.attributes.class, /\bignored\b/);
    for (const words of ['client', 'not checked · ignored', 'proxy 3', '✗ not trusted', 'proxy 1 · the socket peer', '✓ trusted',
      'x-forwarded-proto: https', 'sees remoteAddr = 6.6.6.6', 'sees remotePort = (empty)', 'addressed as app.internal:8000',
      '▲ The walk from the app stopped here']) {
      t.ok(svg.includes(`>${escapeXml(words)}<`), `says ${JSON.stringify(words)}`);
    }
    t.match(svg, /stroke="#c62828" stroke-width="2" stroke-dasharray="6 4"/, 'an untrusted hop is dashed, not only red');
    t.notMatch(svg, /\sid=|\sstyle=|\son[a-z]+=|href|<script|url\(/i, 'no id, style, handler, link, script or url()');
  });

  t.test('without a trust list, without a trace, a Unix socket, an app that saw no change', async (t) => {
    const blind = chainSvg(await chainFor({}, { headers: { 'x-forwarded-for': '203.0.113.7' } }));
    t.ok(blind.includes('>no trust list<'));
    const none = await chainFor(null, { remoteAddr: '' });
    const svg = chainSvg(none, { title: 'A <chain> & more' });
    t.ok(svg.includes('<title>A &#60;chain&#62; &#38; more</title>'), 'the title, escaped');
    t.ok(svg.includes('>client · the socket peer<'));
    t.ok(svg.includes('>no address (a Unix socket)<'));
    t.ok(svg.includes('>sees what the socket told it: nothing was changed<'));
    t.ok(svg.indexOf('The walk from the app stopped here') > svg.indexOf('data-role="app"'), 'with no stop, the reason comes last');
    const app = chainSvg({ ...none, hops: [none.hops[0]!, { role: 'app', address: null, trusted: null, wrote: {} }] });
    t.ok(app.includes('>addressed as unknown<'));
    t.ok(chainSvg({ ...none, hops: [{ role: 'client', address: null, trusted: null, wrote: {} }, none.hops[0]!, none.hops[1]!] })
      .includes('>unknown<'), 'a hop other than the peer without an address is unknown');
  });

  t.test('long values are cut with the whole as a tooltip; omitted proxies are counted', async (t) => {
    const long = `2001:db8:${'abcd:'.repeat(10)}1`;
    const chain = await chainFor({ xFor: 1 }, {
      headers: { 'x-forwarded-for': [...Array.from({ length: MAX_PROXIES }, (_, i) => `10.0.0.${i + 3}`), long].join(', ') },
    });
    const svg = chainSvg(chain);
    t.ok(svg.includes(`<title>x-forwarded-for: ${long}</title>`), 'the whole value in a tooltip');
    t.ok(svg.includes(`>x-forwarded-for: ${long.slice(0, 43 - 'x-forwarded-for: '.length)}…<`), 'the line cut to fit');
    t.ok(svg.includes('>… 1 more proxy named, not drawn<'));
    chain.omitted = 2;
    t.ok(chainSvg(chain).includes('>… 2 more proxies named, not drawn<'));
  });

  t.test('wrap: at spaces, long words broken, at most the lines asked for', async (t) => {
    t.same(wrap('the walk stopped here', 10, 5), ['the walk', 'stopped', 'here']);
    t.same(wrap(`a ${'x'.repeat(25)} b`, 10, 5), ['a', 'xxxxxxxxxx', 'xxxxxxxxxx', 'xxxxx b']);
    t.same(wrap('one two three four five six', 4, 2), ['one', 'two…']);
    t.same(wrap('  ', 4, 2), []);
  });

  t.test('escapeXml: markup as references, what XML cannot hold as U+FFFD', async (t) => {
    t.equal(escapeXml(`<a href="x">&'`), '&#60;a href=&#34;x&#34;&#62;&#38;&#39;');
    t.equal(escapeXml('a\u0000b\u001bc\ud800d\udc00e\u{1f600}\tf'), 'a\ufffdb\ufffdc\ufffdd\ufffde\u{1f600}\tf');
  });

  t.test('no value can break out: any addresses, values and reasons make one well-formed svg with one node per hop', async (t) => {
    const hostile = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.constantFrom('<script>alert(1)</script>', '"><svg onload=alert(1)>', ']]><x>', '&amp;', '&', '\u0000', '\ud800', '</text></g></svg><img src=x>'),
      fc.string({ unit: fc.constantFrom('<', '>', '&', '"', "'", ';', '#', 'a', ' ', '\u2028', '\ufffe'), maxLength: 120 }),
    );
    const hop = fc.record({
      // Roles too: a chain read from JSON is not checked by the type system.
      role: fc.oneof(fc.constantFrom('client', 'proxy'), hostile) as fc.Arbitrary<ChainHop['role']>,
      address: fc.option(hostile, { nil: null }),
      trusted: fc.constantFrom(true, false, null),
      wrote: fc.dictionary(hostile, hostile, { maxKeys: 3 }),
    });
    const app = fc.record({ role: fc.constant('app' as const), address: fc.option(hostile, { nil: null }), trusted: fc.constant(null), wrote: fc.dictionary(hostile, hostile, { maxKeys: 3 }) });
    const chain = fc.tuple(fc.array(hop, { minLength: 1, maxLength: 5 }), app, hostile, fc.nat({ max: 30 }), fc.nat({ max: 6 }))
      .map(([senders, last, reason, omitted, stop]): Chain => ({
        hops: [...senders, last], stoppedAt: stop < senders.length ? stop : null, reason, omitted,
      }));
    fc.assert(fc.property(chain, hostile, (c, title) => {
      const elements = parseSvg(chainSvg(c, { title }));
      const nodes = elements.filter((element) => element.attributes['data-hop'] !== undefined);
      return nodes.length === c.hops.length && nodes.every((node, i) => node.attributes['data-hop'] === String(i));
    }), { numRuns: 300 });
    t.pass('300 hostile chains drawn as well-formed SVG');
  });

  t.test('the checker refuses what a break-out would look like', async (t) => {
    const ok = '<svg xmlns="x"><text x="1">a &#60; b</text></svg>';
    t.ok(parseSvg(ok));
    for (const bad of [
      '<svg><text>a < b</text></svg>', '<svg><text>a & b</text></svg>', '<svg><text x="a"b">c</text></svg>',
      '<svg><script>x</script></svg>', '<svg><text onload="x">c</text></svg>', '<svg><text>c</svg>', '<g></g>',
      '<svg><text x="<">c</text></svg>', '<svg><text>c</g></svg>',
    ]) t.throws(() => parseSvg(bad), bad);
  });
});
