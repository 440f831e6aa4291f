/**
 * trustGate's built-in forwarding headers against fixtures/forwarding-headers.json, the reference
 * data that says which library reads each name and where. The list in src is the code (the package
 * ships no fixtures); this test keeps the two equal both ways, so a name cannot be added to one and
 * forgotten in the other, and checks that every name in the fixture really is stripped.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import requestIp from 'request-ip';
import { fromNodeListener, toNodeListener } from '../src/adapters/node.js';
import { createEnv, type GatewayApp } from '../src/gateway.js';
import { isToken } from '../src/options.js';
import { FORWARDING_HEADER_PREFIX, FORWARDING_HEADERS, STRIPPED, trustGate } from '../src/middleware/trust-gate.js';
import { listen, request } from './fixtures/http-client.js';
import { innerApp } from './fixtures/run.js';

interface Reader {
  library: string;
  reference: string;
}
interface ForwardingHeader {
  name: string;
  carries: string[];
  readBy: Reader[];
}
interface Fixture {
  about: string;
  prefix: string;
  headers: ForwardingHeader[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/forwarding-headers.json', import.meta.url), 'utf8')) as Fixture;
const CARRIES = new Set(['address', 'scheme', 'host', 'port', 'prefix', 'path']);

t.test('the fixture is well formed: canonical unique names, each with what it carries and who reads it', async (t) => {
  t.equal(fixture.prefix, FORWARDING_HEADER_PREFIX, 'the same prefix rule as trustGate');
  const names = fixture.headers.map((h) => h.name);
  t.same(names.filter((name, i) => names.indexOf(name) !== i), [], 'no name twice');
  for (const header of fixture.headers) {
    t.ok(isToken(header.name) && header.name === header.name.toLowerCase() && !header.name.includes('_'),
      `${header.name}: lower case, '-' for '_'`);
    t.ok(header.carries.length > 0 && header.carries.every((c) => CARRIES.has(c)), `${header.name}: says what it carries`);
    t.ok(header.readBy.length > 0, `${header.name}: at least one reader`);
    for (const reader of header.readBy) {
      t.ok(reader.library.length > 0 && /^https:\/\/\S+$/.test(reader.reference), `${header.name}: ${reader.library} has a reference`);
    }
  }
  t.ok(names.includes('x-forwarded-for') && names.includes('forwarded'), 'the two standard ones are there');
});

t.test('trustGate\'s list equals the fixture\'s names outside the prefix, both ways', async (t) => {
  const listed = new Set(FORWARDING_HEADERS);
  t.equal(listed.size, FORWARDING_HEADERS.length, 'no name twice in src');
  const exact = fixture.headers.map((h) => h.name).filter((name) => !name.startsWith(FORWARDING_HEADER_PREFIX));
  t.same(exact.filter((name) => !listed.has(name)), [], 'every fixture name is in the src list (or covered by the prefix)');
  t.same(FORWARDING_HEADERS.filter((name) => !exact.includes(name)), [],
    'every src name is in the fixture, with a reader and a reference, and none is already covered by the prefix');
  t.ok(Object.isFrozen(FORWARDING_HEADERS), 'importers cannot change the defaults');
});

t.test('every name in the fixture, in every spelling, is stripped from an untrusted peer and kept from a proxy', async (t) => {
  const gate = trustGate(innerApp(), { trusted: ['10.0.0.0/8'] });
  for (const { name } of fixture.headers) {
    const spellings = [
      name,
      name.toUpperCase().replaceAll('-', '_'), // CGI-style
      name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase()), // Title-Case
    ];
    for (const spelling of spellings) {
      const untrusted = createEnv({ remoteAddr: '203.0.113.66', url: '/', headers: { accept: '*/*' } });
      untrusted.headers[spelling] = 'x';
      await gate(untrusted);
      t.same(untrusted.headers, { accept: '*/*' }, `${spelling}: stripped`);
      t.same(untrusted.ext[STRIPPED], [spelling], `${spelling}: recorded`);
      const proxied = createEnv({ remoteAddr: '10.0.0.2', url: '/' });
      proxied.headers[spelling] = 'x';
      await gate(proxied);
      t.equal(proxied.headers[spelling], 'x', `${spelling}: kept from a trusted proxy`);
    }
  }
});

/**
 * The real request-ip 3.3.0, the npm package that reads the most of these names, behind trustGate
 * on a real node:http server: from a peer that is not a proxy it must see the socket's address for
 * every header it reads, and from a trusted proxy the header's value, as before.
 */
t.test('request-ip behind trustGate sees the socket, not a forged header', async (t) => {
  // What 3.3.0 reads (its master branch also reads Forwarded and Cf-Pseudo-IPv4, which the gate strips too).
  const READ_BY_REQUEST_IP = ['x-client-ip', 'x-forwarded-for', 'cf-connecting-ip', 'fastly-client-ip', 'true-client-ip', 'x-real-ip',
    'x-cluster-client-ip', 'x-forwarded', 'forwarded-for', 'x-appengine-user-ip'];
  const seenBy = (gate: boolean, trusted: string[]) => listen(t, toNodeListener(
    (gate ? (app: GatewayApp) => trustGate(app, { trusted }) : (app: GatewayApp) => app)(
      fromNodeListener((req, res) => { res.end(requestIp.getClientIp(req) ?? ''); }),
    ),
  ));
  const gated = await seenBy(true, ['10.0.0.0/8']);
  const open = await seenBy(false, []);
  const proxy = await seenBy(true, ['loopback']);
  for (const name of READ_BY_REQUEST_IP) {
    const headers = { [name]: '6.6.6.6' };
    t.equal((await request({ port: open }, { headers })).body, '6.6.6.6', `${name}: request-ip alone takes the forged value`);
    t.match((await request({ port: gated }, { headers })).body, /^(::ffff:)?127\.0\.0\.1$/, `${name}: behind the gate it sees the peer`);
    t.equal((await request({ port: proxy }, { headers })).body, '6.6.6.6', `${name}: from a trusted proxy the header stays`);
  }
});

