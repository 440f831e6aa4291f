/**
 * The framework matrix: Express 5, Koa 3, Fastify 5, Connect, plain node:http and Hono 4 on
 * @hono/node-server, each at its documented integration point behind proxyfix, on a real server,
 * asked by a real client. Every case is run against every framework, and the whole answer (every
 * value the framework reports) is compared, so one wrong field fails the case.
 *
 * The client connects from 127.0.0.1 and always sends `Host: upstream.local:8080`, the proxy's
 * upstream name; the forwarded values are a client 203.0.113.7 on https://api.shop.example.com:8443/app.
 * Forged values carry markers (6.6.6.6, evil.example, /forged) that must appear in no answer.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import type { ProxyFixOptions } from '../src/middleware/proxy-fix/index.js';
import { request } from './fixtures/http-client.js';
import { frameworks, ORIGIN, PATH, type Framework, type View } from './fixtures/frameworks.js';

const UPSTREAM_HOST = 'upstream.local:8080';
const FORGED = ['6.6.6.6', 'evil.example', '/forged'];

/** Every field the matrix forwards, from a proxy on 127.0.0.1. */
const trustedProxy: ProxyFixOptions = { trusted: ['127.0.0.1'], xFor: 1, xProto: 1, xHost: 1, xPrefix: 1 };
/**
 * The same counts, but the proxies are elsewhere: 127.0.0.1 is a client reaching the app directly.
 * (Its process warning about that is what a deployment wants, and only noise here.)
 */
const proxyElsewhere: ProxyFixOptions = { trusted: ['10.0.0.0/8'], xFor: 1, xProto: 1, xHost: 1, xPrefix: 1, warnings: false };

const proxyHeaders = {
  'X-Forwarded-For': '203.0.113.7',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'api.shop.example.com:8443',
  'X-Forwarded-Prefix': '/app',
};
/** What a client wrote, with the proxy's values appended to the right. */
const forgedHeaders = {
  'X-Forwarded-For': '6.6.6.6, 203.0.113.7',
  'X-Forwarded-Proto': 'http, https',
  'X-Forwarded-Host': 'evil.example, api.shop.example.com:8443',
  'X-Forwarded-Prefix': '/forged, /app',
};

const fixed: View = { ip: '203.0.113.7', scheme: 'https', host: 'api.shop.example.com:8443', prefix: '/app', subdomains: ['shop', 'api'] };
const socket: View = { ip: '127.0.0.1', scheme: 'http', host: UPSTREAM_HOST, prefix: '', subdomains: [] };

interface Case {
  name: string;
  options: ProxyFixOptions;
  headers: Record<string, string>;
  /** Turn the framework's own proxy-trust setting on as well. */
  ownTrust?: boolean;
  view: View;
}

const cases: Case[] = [
  { name: 'a trusted proxy\'s headers give the client\'s values', options: trustedProxy, headers: proxyHeaders, view: fixed },
  { name: 'forged values left of the proxy\'s are never used', options: trustedProxy, headers: forgedHeaders, view: fixed },
  {
    name: 'a client\'s https through a plain-http proxy stays http',
    options: trustedProxy,
    headers: { ...forgedHeaders, 'X-Forwarded-Proto': 'https, http' },
    view: { ...fixed, scheme: 'http' },
  },
  { name: 'from an untrusted peer, the socket\'s own values', options: proxyElsewhere, headers: forgedHeaders, view: socket },
  { name: 'no forwarding headers: the socket\'s own values', options: trustedProxy, headers: {}, view: socket },
  {
    name: 'the framework\'s own trust setting on as well: still the fixed values',
    options: { ...trustedProxy, trusted: ['loopback'] }, headers: forgedHeaders, ownTrust: true, view: fixed,
  },
  {
    name: 'the framework\'s own trust setting on, untrusted peer: still the socket\'s values',
    options: proxyElsewhere, headers: forgedHeaders, ownTrust: true, view: socket,
  },
];

async function started(t: Test, framework: Framework, options: ProxyFixOptions, ownTrust = false) {
  const running = await framework.start(options, ownTrust);
  t.teardown(() => running.close());
  return running;
}

async function askJson(port: number, options: http.RequestOptions & { body?: string }): Promise<unknown> {
  const answer = await request({ port }, { path: PATH, ...options, headers: { host: UPSTREAM_HOST, origin: ORIGIN, ...options.headers } });
  if (answer.status !== 200) throw new Error(`status ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body);
}

for (const framework of frameworks) {
  t.test(framework.name, async (t) => {
    for (const c of cases) {
      await t.test(c.name, async (t) => {
        const running = await started(t, framework, c.options, c.ownTrust);
        const answer = await askJson(running.port, { headers: c.headers });
        t.strictSame(answer, framework.expect(c.view, c.ownTrust === true), 'every value the framework reports');
        const text = JSON.stringify(answer);
        for (const marker of FORGED) t.notOk(text.includes(marker), `no forged ${marker} anywhere`);
        t.equal(running.connections[0]?.remoteAddress, '127.0.0.1', 'the real socket still reports its own peer');
      });
    }

    await t.test('keep-alive: one connection, many clients, each its own values', async (t) => {
      const running = await started(t, framework, trustedProxy, framework.ownTrust !== undefined);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      const clients: { headers: Record<string, string>; view: View }[] = [
        { headers: { 'X-Forwarded-For': '6.6.6.6, 198.51.100.1', 'X-Forwarded-Proto': 'https' }, view: { ...socket, ip: '198.51.100.1', scheme: 'https' } },
        { headers: { 'X-Forwarded-For': '198.51.100.2' }, view: { ...socket, ip: '198.51.100.2' } },
        { headers: {}, view: socket },
        { headers: { ...proxyHeaders, 'X-Forwarded-For': '198.51.100.4' }, view: { ...fixed, ip: '198.51.100.4' } },
      ];
      for (const [i, client] of clients.entries()) {
        const answer = await askJson(running.port, { agent, headers: client.headers });
        t.strictSame(answer, framework.expect(client.view, framework.ownTrust !== undefined), `request ${i + 1}`);
        t.equal(running.connections.length, 1, `request ${i + 1} came over the one connection`);
        const real = running.connections[0]!;
        t.strictSame({ remoteAddress: real.remoteAddress, encrypted: (real as { encrypted?: unknown }).encrypted },
          { remoteAddress: '127.0.0.1', encrypted: undefined }, `after request ${i + 1}, the socket is untouched`);
      }
    });

    await t.test('a JSON body reaches the framework\'s body parser intact', async (t) => {
      const running = await started(t, framework, trustedProxy);
      const body = { greeting: 'hello', list: [1, 2, 3], nested: { 'ü': 'ñ' } };
      const answer = await askJson(running.port, {
        method: 'POST', path: '/echo', body: JSON.stringify(body),
        headers: { ...proxyHeaders, 'Content-Type': 'application/json' },
      });
      t.strictSame(answer, { body, ip: '203.0.113.7' });
    });
  });
}
