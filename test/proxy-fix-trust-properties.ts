/**
 * Anti-spoofing invariants of the trust walk, for both header families.
 *
 * The model: a client C reaches the app through k proxies P1 … Pk, all in 10.0.0.0/8 and trusted.
 * C sends whatever it likes in the header; each proxy appends the address it saw. The app's socket
 * peer is Pk. Nothing C wrote may ever come out as the client address.
 */
import t from 'tap';
import fc from 'fast-check';
import { createEnv } from '../src/gateway.js';
import type { ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { fixed, view } from './fixtures/run.js';
import { walkable } from './fixtures/arbitraries.js';

const trusted = ['10.0.0.0/8'];
const proxy = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 }))
  .map(([a, b, c]) => `10.${a}.${b}.${c}`);
/** A client address outside the trusted range, IPv4 or IPv6. */
const client = fc.oneof(
  fc.ipV4().filter((a) => !a.startsWith('10.') && a !== '0.0.0.0'),
  fc.ipV6().filter((a) => !/^[0:]+$/.test(a) && !a.includes('.') && !a.startsWith('::ffff:')),
);
/** Anything a client can put in a header: commas, quotes, brackets, semicolons, trusted-looking addresses. */
const forged = fc.array(fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('10.0.0.1', '"', '\\', ',', ';', '=', 'for=10.0.0.1', 'for="', 'for=10.0.0.7;proto=https', '"for=', '[', 'unknown'),
  proxy,
), { maxLength: 5 }).map((parts) => parts.join(''));

const chain = fc.record({
  forged,
  client,
  proxies: fc.array(proxy, { minLength: 1, maxLength: 5 }),
  family: fc.constantFrom('x-forwarded', 'forwarded'),
});

function request(c: { forged: string; client: string; proxies: string[]; family: string }) {
  // What each proxy appends: the address it saw. P1 saw the client, Pi saw P(i-1).
  const seen = [c.client, ...c.proxies.slice(0, -1)];
  const element = (addr: string) => (c.family === 'forwarded' ? `for="${addr.includes(':') ? `[${addr}]` : addr}"` : addr);
  const appended = seen.map(element).join(', ');
  const header = c.forged === '' ? appended : `${c.forged}, ${appended}`;
  const name = c.family === 'forwarded' ? 'forwarded' : 'x-forwarded-for';
  return { seen, init: { remoteAddr: c.proxies.at(-1)!, headers: { [name]: header } } };
}

/**
 * The count `n` for the client address, and another header counted `deeper`, so that the trust
 * walk may go further than the client address is read from.
 */
const countOption = (family: string, n: number, deeper = 0): ProxyFixOptions =>
  family === 'forwarded' ? { forwarded: n, xPrefix: deeper, trusted } : { xFor: n, xProto: deeper, trusted };

t.test('with the count at k or Infinity, the result is the address the outermost proxy saw', async () => {
  await fc.assert(fc.asyncProperty(chain, fc.boolean(), async (c, infinite) => {
    const { init } = request(c);
    const env = await fixed(countOption(c.family, infinite ? Infinity : c.proxies.length), init);
    if (env.remoteAddr !== c.client) throw new Error(`got ${env.remoteAddr}, the client was ${c.client}`);
  }), { numRuns: 3000 });
});

t.test('with any count, the result is an address the chain saw, never a forged one', async () => {
  // The walk goes as deep as the largest count; the client address is still read at its own.
  const deeper = fc.integer({ min: 0, max: 8 });
  await fc.assert(fc.asyncProperty(chain, fc.integer({ min: 1, max: 8 }), deeper, async (c, n, other) => {
    const { seen, init } = request(c);
    const env = await fixed(countOption(c.family, n, other), init);
    const expected = seen[Math.max(0, seen.length - n)];
    if (env.remoteAddr !== expected) throw new Error(`count ${n}: got ${env.remoteAddr}, expected ${expected}`);
  }), { numRuns: 3000 });
});

const headerValue = fc.oneof(fc.string({ maxLength: 30 }), forged, fc.constantFrom('https', 'example.com', '443', '/app', 'for=1.2.3.4;proto=https;host=a.com'));
const anyHeaders = fc.record({
  'x-forwarded-for': headerValue, 'x-forwarded-proto': headerValue, 'x-forwarded-host': headerValue,
  'x-forwarded-port': headerValue, 'x-forwarded-prefix': headerValue, forwarded: headerValue,
}, { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>;
const xCounts = fc.record({
  xFor: fc.constantFrom(0, 1, 2, Infinity), xProto: fc.constantFrom(0, 1, 2, Infinity), xHost: fc.constantFrom(0, 1, 2, Infinity),
  xPort: fc.constantFrom(0, 1, 2, Infinity), xPrefix: fc.constantFrom(0, 1, 2, Infinity),
});
const anyOptions: fc.Arbitrary<ProxyFixOptions> = fc.oneof(
  xCounts.map((counts) => ({ ...counts })),
  fc.record({ forwarded: fc.constantFrom(1, 2, Infinity), xPrefix: fc.constantFrom(0, 1, Infinity) }),
);

t.test('an untrusted peer changes nothing, whatever it sends', async () => {
  await fc.assert(fc.asyncProperty(anyOptions, anyHeaders, client, fc.boolean(), async (options, headers, peer, symmetric) => {
    const init = { remoteAddr: peer, host: 'app.internal:8000', headers };
    const all = walkable({ ...options, trusted, ...(symmetric && !('forwarded' in options) ? { symmetric } : {}) });
    const after = view(await fixed(all, init));
    if (JSON.stringify(after) !== JSON.stringify(view(createEnv(init)))) throw new Error(JSON.stringify(after));
  }), { numRuns: 3000 });
});

t.test('no input makes a trusting proxyFix throw', async () => {
  await fc.assert(fc.asyncProperty(anyOptions, anyHeaders, fc.oneof(proxy, client, fc.constant(''), fc.string()), async (options, headers, peer) => {
    await fixed(walkable({ ...options, trusted, trustUnixSocket: true }), { remoteAddr: peer, headers });
  }), { numRuns: 3000 });
});
