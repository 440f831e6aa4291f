/**
 * The fetch adapter, both ways, with real `Request` and `Response` objects, real node:http servers,
 * a real Hono app and @hono/node-server: the env built from a Request, the Response built from a
 * gateway response, and what a fetch handler sees once proxyFix has run in front of it.
 */
import t from 'tap';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { readFileSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  FETCH_ARGS, FETCH_REQUEST, fromFetchHandler, requestToEnv, toFetchHandler, toFetchResponse, type GetPeer,
} from '../src/adapters/fetch.js';
import { fixedOf } from '../src/adapters/fixed.js';
import { toNodeListener } from '../src/adapters/node.js';
import { proxyFixFetch } from '../src/fetch.js';
import { createEnv, type GatewayApp, type GatewayEnv, type GatewayResponse } from '../src/gateway.js';
import { proxyFix } from '../src/middleware/proxy-fix/index.js';
import { listen, request } from './fixtures/http-client.js';
import { certificate } from './fixtures/certificates.js';
import { tempDir } from './fixtures/teardown.js';

// A streaming test that is broken waits forever: let it fail instead.
t.setTimeout(30_000);

const encoder = new TextEncoder();

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  let out = '';
  for await (const chunk of body) out += Buffer.from(chunk).toString();
  return out;
}

/** A one-shot signal: `open()` lets `opened` resolve. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { open, opened };
}


/** Run `fn` with what it writes to process.stderr kept instead of shown. */
async function stderrOf(fn: () => Promise<unknown>): Promise<string> {
  const write = process.stderr.write;
  let written = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return written;
}

const peer = (address: string | undefined, port?: number | string): GetPeer => () => ({ remote: { address, port } });

t.test('requestToEnv: a Request, field by field', async (t) => {
  interface Case {
    name: string;
    request: Request;
    getPeer?: GetPeer;
    expect: Partial<Omit<GatewayEnv, 'body' | 'ext'>>;
    body?: string;
  }
  const cases: Case[] = [
    { name: 'scheme and port from an https URL',
      request: new Request('https://example.com/a/b'),
      expect: { method: 'GET', scheme: 'https', host: 'example.com', serverName: 'example.com', serverPort: '443',
        scriptName: '', pathInfo: '/a/b', queryString: '', remoteAddr: '', remotePort: '', headers: {} } },
    { name: 'http on a given port',
      request: new Request('http://example.com:8080/'),
      expect: { scheme: 'http', host: 'example.com:8080', serverName: 'example.com', serverPort: '8080' } },
    { name: 'the Host header wins over the URL\'s host',
      request: new Request('http://10.0.0.5:8000/p', { headers: { Host: 'example.com:8443' } }),
      expect: { host: 'example.com:8443', serverName: 'example.com', serverPort: '8443', headers: { host: 'example.com:8443' } } },
    { name: 'a Host header without a port: the scheme\'s',
      request: new Request('https://10.0.0.5:8443/p', { headers: { Host: 'example.com' } }),
      expect: { host: 'example.com', serverName: 'example.com', serverPort: '443' } },
    { name: 'an IPv6 host keeps its brackets',
      request: new Request('http://[2001:db8::1]:8080/v6'),
      expect: { host: '[2001:db8::1]:8080', serverName: '[2001:db8::1]', serverPort: '8080', pathInfo: '/v6' } },
    { name: 'the query, without its ?',
      request: new Request('http://a.example/s?x=1&y&z=%20'),
      expect: { pathInfo: '/s', queryString: 'x=1&y&z=%20' } },
    { name: 'a lone ? is no query',
      request: new Request('http://a.example/s?'),
      expect: { pathInfo: '/s', queryString: '' } },
    { name: 'header names in lower case',
      request: new Request('http://a.example/', { headers: { 'X-Forwarded-For': '203.0.113.7', Accept: 'text/html' } }),
      expect: { headers: { 'x-forwarded-for': '203.0.113.7', accept: 'text/html' } } },
    { name: 'a POST and its body',
      request: new Request('http://a.example/up', { method: 'POST', body: 'payload' }),
      expect: { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' } }, body: 'payload' },
    { name: 'the peer from getPeer',
      request: new Request('http://a.example/'), getPeer: peer('203.0.113.5', 40000),
      expect: { remoteAddr: '203.0.113.5', remotePort: '40000' } },
    { name: 'a port given as a string',
      request: new Request('http://a.example/'), getPeer: peer('2001:db8::7', '443'),
      expect: { remoteAddr: '2001:db8::7', remotePort: '443' } },
    { name: 'a peer without an address or port',
      request: new Request('http://a.example/'), getPeer: peer(undefined),
      expect: { remoteAddr: '', remotePort: '' } },
    { name: 'getPeer that finds nothing',
      request: new Request('http://a.example/'), getPeer: () => undefined,
      expect: { remoteAddr: '', remotePort: '' } },
  ];
  for (const c of cases) {
    const rest = ['binding', 7];
    const env = requestToEnv(c.request, rest, c.getPeer);
    const { body, ext, headers, ...fields } = env;
    const { headers: expectedHeaders, ...expectedFields } = c.expect;
    t.match(fields, expectedFields, c.name);
    if (expectedHeaders !== undefined) t.same({ ...headers }, expectedHeaders, `${c.name}: headers`);
    t.equal(Object.getPrototypeOf(headers), null, `${c.name}: headers have no prototype`);
    t.equal(await text(body), c.body ?? '', `${c.name}: body`);
    t.equal(ext[FETCH_REQUEST], c.request, `${c.name}: the Request is kept`);
    t.equal(ext[FETCH_ARGS], rest, `${c.name}: so are the handler's other arguments`);
  }
});

t.test('requestToEnv: without getPeer, the peer is unknown; a trusted proxyFix then takes nothing', async (t) => {
  const seen: GatewayEnv[] = [];
  const app: GatewayApp = (env) => {
    seen.push(env);
    return { status: 204 };
  };
  const forged = () => new Request('http://a.example/', { headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https' } });
  const options = { xFor: 1, xProto: 1, trusted: ['loopback'], warnings: false };

  await toFetchHandler(proxyFix(app, options))(forged());
  t.match(seen[0], { remoteAddr: '', remotePort: '', scheme: 'http' }, 'no getPeer: nothing taken');
  await toFetchHandler(proxyFix(app, options))(forged(), { incoming: 'not a node request' });
  t.match(seen[1], { remoteAddr: '', scheme: 'http' }, 'bindings without a node request: still unknown');
  await toFetchHandler(proxyFix(app, options), { getPeer: peer('127.0.0.1', 5000) })(forged());
  t.match(seen[2], { remoteAddr: '203.0.113.7', scheme: 'https' }, 'a trusted peer from getPeer: taken');
  await toFetchHandler(proxyFix(app, options), { getPeer: peer('198.51.100.1') })(forged());
  t.match(seen[3], { remoteAddr: '198.51.100.1', scheme: 'http' }, 'an untrusted peer: nothing taken');
});

t.test('the default getPeer reads @hono/node-server\'s bindings, in both of their shapes', async (t) => {
  const seen: GatewayEnv[] = [];
  const handler = toFetchHandler((env) => {
    seen.push(env);
    return { status: 204 };
  });
  const port = await listen(t, async (req, res) => {
    const bindings = req.url === '/nested' ? { server: { incoming: req, outgoing: res } } : { incoming: req, outgoing: res };
    const answer = await handler(new Request(`http://127.0.0.1${req.url}`), bindings);
    res.writeHead(answer.status).end();
  });
  await request({ port }, { path: '/flat' });
  await request({ port }, { path: '/nested' });
  for (const env of seen) {
    t.equal(env.remoteAddr, '127.0.0.1', `${env.pathInfo}: the socket peer`);
    t.match(env.remotePort, /^\d+$/, `${env.pathInfo}: its port`);
  }
  t.equal(seen.length, 2);

  // No peer address: a Unix socket's peer is "", a TCP connection reset before it was accepted is
  // not one (see peerAddress in adapters/node.ts).
  const bindingsOf = (socket: object) => ({ incoming: { socket, headers: {}, rawHeaders: [], url: '/' }, outgoing: {} });
  await handler(new Request('http://a.example/unix'), bindingsOf({ remoteAddress: undefined, localAddress: undefined }));
  await handler(new Request('http://a.example/reset'), bindingsOf({ remoteAddress: undefined, localAddress: '127.0.0.1' }));
  t.same(seen.slice(2).map((env) => [env.pathInfo, env.remoteAddr]), [['/unix', ''], ['/reset', 'unknown']]);
});

t.test('toFetchResponse: a gateway response as a fetch Response', async (t) => {
  const plain = toFetchResponse({ status: 201, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'héllo' });
  t.equal(plain.status, 201);
  t.equal(plain.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(await plain.text(), 'héllo', 'a string');

  const bytes = toFetchResponse({ status: 200, body: new Uint8Array([0, 1, 2, 255]) });
  t.same([...new Uint8Array(await bytes.arrayBuffer())], [0, 1, 2, 255], 'a Uint8Array');

  const none = toFetchResponse({ status: 200 });
  t.equal(none.body, null, 'no body');

  const repeated = toFetchResponse({ status: 200, headers: { 'Set-Cookie': ['a=1; Path=/', 'b=2; Secure'], 'X-Multi': ['1', '2'] } });
  t.same(repeated.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Secure'], 'an array is repeated set-cookie lines');
  t.equal(repeated.headers.get('x-multi'), '1, 2', 'other repeated headers read joined');

  for (const status of [204, 304]) {
    const empty = toFetchResponse({ status, headers: { ETag: '"v1"' }, body: 'never sent' });
    t.equal(empty.status, status, `${status}: its status`);
    t.equal(empty.body, null, `${status}: a status that has no body gets none`);
    t.equal(empty.headers.get('etag'), '"v1"', `${status}: headers kept`);
  }

  const cases: [string, unknown, string][] = [
    ['null', null, 'the app returned null, not a response { status, headers?, body? }'],
    ['a status that is not a number', { status: '200' }, 'the app returned an object, not a response { status, headers?, body? }'],
    ['a string', 'ok', 'the app returned "ok", not a response { status, headers?, body? }'],
  ];
  for (const [name, value, message] of cases) {
    t.throws(() => toFetchResponse(value as GatewayResponse), { name: 'TypeError', message }, name);
  }
});

t.test('toFetchResponse: an async iterable body streams, chunk by chunk as it is read', async (t) => {
  const second = gate();
  let produced = 0;
  async function* body() {
    produced++;
    yield encoder.encode('first ');
    await second.opened;
    produced++;
    yield encoder.encode('second');
  }
  const response = toFetchResponse({ status: 200, body: body() });
  const reader = response.body!.getReader();
  const first = await reader.read();
  t.equal(Buffer.from(first.value!).toString(), 'first ', 'the first chunk arrives before the second exists');
  t.equal(produced, 1, 'the source is pulled only as far as it is read');
  second.open();
  t.equal(Buffer.from((await reader.read()).value!).toString(), 'second');
  t.equal((await reader.read()).done, true);
});

t.test('toFetchHandler: errors become a 500 and go to onError', async (t) => {
  const reported: [unknown, GatewayEnv][] = [];
  const onError = (error: unknown, env: GatewayEnv) => { reported.push([error, env]); };
  const boom = new Error('database down');
  const throwing = toFetchHandler(() => { throw boom; }, { onError });
  const answer = await throwing(new Request('http://a.example/fail?x=1'));
  t.equal(answer.status, 500);
  t.equal(answer.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(await answer.text(), 'Internal Server Error\n');
  t.equal(reported.length, 1);
  t.equal(reported[0]![0], boom, 'onError gets the error');
  t.match(reported[0]![1], { pathInfo: '/fail', queryString: 'x=1' }, 'and the env');

  const notAResponse = toFetchHandler(async () => 'ok' as unknown as GatewayResponse, { onError });
  t.equal((await notAResponse(new Request('http://a.example/'))).status, 500);
  t.match(reported[1]![0], { name: 'TypeError', message: 'the app returned "ok", not a response { status, headers?, body? }' });

  const logged = await stderrOf(async () => {
    await toFetchHandler(() => { throw boom; })(new Request('http://a.example/'));
    // Some libraries throw strings.
    await toFetchHandler(() => { throw 'just a string'; })(new Request('http://a.example/'));
  });
  t.match(logged, /^Error: database down\n\s+at /, 'by default the stack goes to stderr');
  t.match(logged, /\njust a string\n$/, 'a thrown string as it is');
});

t.test('toFetchHandler: getPeer must be a function', async (t) => {
  for (const getPeer of ['127.0.0.1', { remote: { address: '127.0.0.1' } }, 42]) {
    t.throws(() => toFetchHandler(() => ({ status: 200 }), { getPeer: getPeer as unknown as GetPeer }), {
      name: 'TypeError',
      code: 'ERR_PROXYFIX_OPTION_TYPE',
      option: 'getPeer',
      message: /^`getPeer` must be a function \(request, \.\.\.rest\) => \{ remote: \{ address, port \} \}, got /,
    }, String(getPeer));
  }
});

/** Options for a proxy chain that sets everything: one proxy in front. */
const everything = { xFor: 1, xProto: 1, xHost: 1, xPort: 1, xPrefix: 1, trusted: ['loopback'], warnings: false };
const forwarded = {
  'X-Forwarded-For': '203.0.113.7',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'example.com',
  'X-Forwarded-Port': '8443',
  'X-Forwarded-Prefix': '/app',
  Forwarded: 'for=6.6.6.6',
  'X-Request-Id': 'r-1',
};

t.test('fromFetchHandler: the handler sees the public URL, the fixed host, and no spent forwarding headers', async (t) => {
  let seen: Request | undefined;
  const handler = (request: Request) => {
    seen = request;
    return new Response('ok');
  };
  const fixed = toFetchHandler(proxyFix(fromFetchHandler(handler), everything), { getPeer: peer('127.0.0.1', 5000) });
  const original = new Request('http://127.0.0.1:8000/users/7?x=1', { method: 'DELETE', headers: forwarded });
  await fixed(original);
  t.equal(seen!.url, 'https://example.com:8443/app/users/7?x=1', 'request.url: scheme, host, port, prefix, path, query');
  t.equal(seen!.method, 'DELETE');
  t.equal(seen!.headers.get('host'), 'example.com:8443', 'Host is the fixed host');
  for (const name of ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix']) {
    t.equal(seen!.headers.get(name), null, `${name} is hidden once the request is fixed`);
  }
  t.equal(seen!.headers.get('x-request-id'), 'r-1', 'other headers pass');
  t.not(seen, original, 'a new Request');

  const info = fixedOf(seen!);
  t.match(info, {
    remoteAddr: '203.0.113.7', remotePort: '', scheme: 'https', host: 'example.com:8443', serverName: 'example.com',
    serverPort: '8443', scriptName: '/app', pathInfo: '/users/7', queryString: 'x=1', url: 'https://example.com:8443/app/users/7?x=1',
    originals: { remoteAddr: '127.0.0.1', scheme: 'http', host: '127.0.0.1:8000' },
  }, 'fixedOf(request) inside the handler');
  t.equal(fixedOf(original), undefined, 'the client\'s Request is not the one the handler got');

  await toFetchHandler(fromFetchHandler(handler))(new Request('http://127.0.0.1:8000/p', { headers: forwarded }));
  t.equal(seen!.url, 'http://127.0.0.1:8000/p', 'not fixed: the URL as it came');
  t.equal(seen!.headers.get('x-forwarded-for'), '203.0.113.7', 'not fixed: nothing is hidden');
});

t.test('fromFetchHandler: the handler\'s Request is a Request in every way a handler uses one', async (t) => {
  let seen: Request | undefined;
  let body = '';
  let cloneUrl = '';
  const handler = async (request: Request) => {
    seen = request;
    cloneUrl = request.clone().url;
    body = await request.text();
    return new Response('ok');
  };
  const fixed = toFetchHandler(proxyFix(fromFetchHandler(handler), everything), { getPeer: peer('127.0.0.1', 5000) });
  const original = new Request('http://127.0.0.1:8000/upload', { method: 'POST', headers: forwarded, body: 'payload' });
  await fixed(original);
  t.ok(seen instanceof Request, 'instanceof Request');
  t.equal(seen!.constructor, Request, 'its constructor is Request');
  t.equal(body, 'payload', 'undici\'s methods run on it (text())');
  t.equal(cloneUrl, 'http://127.0.0.1:8000/upload', 'clone() is the client\'s request, as it came');
  t.equal(seen!.signal, original.signal, 'the client\'s abort signal');
  t.equal(seen!.headers, seen!.headers, 'the same headers object each time it is read');
  t.ok(seen!.headers instanceof Headers);
  t.equal(seen!.bodyUsed, true, 'the body is the client\'s: read once');
});

t.test('requestToEnv: a request with a method that may carry a body, but none, has an empty body', async (t) => {
  const env = requestToEnv(new Request('http://a.example/x', { method: 'DELETE' }), []);
  t.equal(await text(env.body), '');
});

t.test('toFetchHandler: an app that answers at once is answered at once; a later answer, or its failure, later', async (t) => {
  const reported: unknown[] = [];
  const onError = (error: unknown) => { reported.push(error); };
  const now = toFetchHandler(() => ({ status: 201, body: 'now' }), { onError })(new Request('http://a.example/'));
  t.ok(now instanceof Response, 'a Response, not a promise');
  t.equal(await (now as Response).text(), 'now');
  const later = toFetchHandler(async () => ({ status: 202, body: 'later' }), { onError })(new Request('http://a.example/'));
  t.ok(later instanceof Promise);
  t.equal((await later).status, 202);
  const failing = toFetchHandler(async () => { throw new Error('later failure'); }, { onError })(new Request('http://a.example/'));
  t.equal((await failing).status, 500);
  t.match(reported, [{ message: 'later failure' }]);
  const syncHandler = proxyFixFetch(() => new Response('plain'), { getPeer: peer('127.0.0.1') });
  t.ok(syncHandler(new Request('http://a.example/')) instanceof Response, 'proxyFixFetch around a handler that answers at once');
  // @hono/node-server's light Response builds a Headers object when its headers are read, and is
  // then written the slow way.
  const light = { status: 200, arrayBuffer: async () => new ArrayBuffer(0), get headers(): never { throw new Error('headers read') } };
  const passed = proxyFixFetch(() => light as unknown as Response, { getPeer: peer('127.0.0.1') })(new Request('http://a.example/'));
  t.equal(passed, light, 'the handler\'s Response is passed on without its headers being read');
});

t.test('fromFetchHandler: bodies stream both ways, and the handler\'s Response is passed on as it is', async (t) => {
  const secondIn = gate();
  const secondOut = gate();
  const sent: string[] = [];
  const upload = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent.length === 0) {
        sent.push('up-1 ');
        controller.enqueue(encoder.encode('up-1 '));
      } else {
        await secondIn.opened;
        sent.push('up-2');
        controller.enqueue(encoder.encode('up-2'));
        controller.close();
      }
    },
  });
  let returned: Response | undefined;
  const handler = async (request: Request) => {
    const reader = request.body!.getReader();
    const first = Buffer.from((await reader.read()).value!).toString();
    t.same(sent, ['up-1 '], 'the handler reads the first chunk before the client has sent the second');
    secondIn.open();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += Buffer.from(chunk.value).toString();
    returned = new Response(new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode(`${first}${rest} | down-1 `));
        await secondOut.opened;
        controller.enqueue(encoder.encode('down-2'));
        controller.close();
      },
    }), { status: 201, headers: { 'X-Echo': 'yes' } });
    return returned;
  };
  const fixed = toFetchHandler(proxyFix(fromFetchHandler(handler), everything), { getPeer: peer('127.0.0.1') });
  const answer = await fixed(new Request('http://127.0.0.1/up', { method: 'POST', body: upload, duplex: 'half' } as RequestInit));
  t.equal(answer, returned, 'the handler\'s own Response, not a copy');
  t.equal(answer.status, 201);
  const reader = answer.body!.getReader();
  t.equal(Buffer.from((await reader.read()).value!).toString(), 'up-1 up-2 | down-1 ', 'the response starts before it is complete');
  secondOut.open();
  t.equal(Buffer.from((await reader.read()).value!).toString(), 'down-2');
});

t.test('fromFetchHandler as a plain gateway app: a Request from the env, a gateway response back', async (t) => {
  let seen: Request | undefined;
  const app = fromFetchHandler(async (request) => {
    seen = request;
    const body = request.method === 'GET' || request.method === 'HEAD' ? null : `echo ${await request.text()}`;
    const headers = new Headers({ 'Content-Type': 'text/plain' });
    headers.append('Set-Cookie', 'a=1');
    headers.append('Set-Cookie', 'b=2');
    return new Response(request.url.endsWith('/empty') ? null : body, { status: request.url.endsWith('/empty') ? 204 : 200, headers });
  });

  async function* chunks() {
    yield encoder.encode('one ');
    yield encoder.encode('two');
  }
  const posted = await app(createEnv({ method: 'PUT', host: 'example.com', url: '/x?q=1', body: chunks() }));
  t.equal(seen!.url, 'http://example.com/x?q=1');
  t.same(posted.headers, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }, 'headers, set-cookie as an array');
  t.equal(posted.status, 200);
  t.equal(await text(posted.body as AsyncIterable<Uint8Array>), 'echo one two', 'the env\'s body reached the handler, and the answer streams back');

  const noHost = await app(createEnv({ host: '', serverName: '10.0.0.5', serverPort: '8080', url: '/empty' }));
  t.equal(seen!.url, 'http://10.0.0.5:8080/empty', 'no host: the server name and port');
  t.equal(seen!.headers.get('host'), null, 'and no Host header');
  t.equal(noHost.status, 204);
  t.notOk('body' in noHost, 'a Response without a body gives none');
  t.same(noHost.headers, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });

  const head = await app(createEnv({ method: 'HEAD', host: 'example.com' }));
  t.equal(seen!.method, 'HEAD');
  t.equal(seen!.body, null, 'a HEAD has no body');
  t.equal(head.status, 200);
  const withoutCookies = await fromFetchHandler(() => new Response('plain'))(createEnv({}));
  t.notOk('set-cookie' in withoutCookies.headers!, 'no set-cookie header when there is none');
});

t.test('fromFetchHandler: the client going away reaches the handler as an aborted signal', async (t) => {
  const controller = new AbortController();
  const started = gate();
  const handler = (request: Request) => new Promise<Response>((resolve) => {
    request.signal.addEventListener('abort', () => resolve(new Response('aborted', { status: 499 })));
    started.open();
  });
  const answer = toFetchHandler(fromFetchHandler(handler))(new Request('http://a.example/', { signal: controller.signal }));
  await started.opened;
  controller.abort();
  t.equal((await answer).status, 499);
});

t.test('fromFetchHandler: mistakes are named', async (t) => {
  t.throws(() => fromFetchHandler(null as never), {
    name: 'TypeError',
    message: '`handler` must be a fetch handler (a function from Request to Response), got null',
  });
  t.throws(() => fromFetchHandler(new Hono() as never), {
    message: '`handler` must be a fetch handler (a function from Request to Response), got an object: pass its fetch method, bound to it',
  }, 'a Hono app: pass its fetch');
  t.throws(() => fromFetchHandler({ fetch: 'x' } as never), { message: /got an object$/ }, 'no hint without a fetch method');

  const reported: unknown[] = [];
  const returns = (value: unknown) => toFetchHandler(fromFetchHandler(() => value as Response), { onError: (error) => reported.push(error) });
  const cases: [string, unknown, string][] = [
    ['undefined', undefined, 'the fetch handler returned undefined, not a Response'],
    ['a gateway response', { status: 200, body: 'ok' }, 'the fetch handler returned an object, not a Response'],
    ['a string', 'ok', 'the fetch handler returned "ok", not a Response'],
  ];
  for (const [name, value, message] of cases) {
    t.equal((await returns(value)(new Request('http://a.example/'))).status, 500, `${name}: a 500`);
    t.match(reported.pop(), { name: 'TypeError', message }, name);
  }
});

/** A handler that reports what it was called with and what Hono's getConnInfo would read. */
function bindingsReporter() {
  const calls: { request: Request; rest: unknown[] }[] = [];
  const handler = (request: Request, ...rest: unknown[]) => {
    calls.push({ request, rest });
    const headers = new Headers({ 'Content-Type': 'text/plain' });
    headers.append('Set-Cookie', 'a=1');
    headers.append('Set-Cookie', 'b=2');
    return new Response(`seen ${request.url}`, { headers });
  };
  return { calls, handler };
}

t.test('fromFetchHandler served by toNodeListener: @hono/node-server\'s bindings, reporting the fixed client', async (t) => {
  const { calls, handler } = bindingsReporter();
  const port = await listen(t, toNodeListener(proxyFix(fromFetchHandler(handler), everything)));
  const answer = await request({ port }, { path: '/users?x=1', headers: { ...forwarded, Host: 'internal:8000' } });
  t.equal(answer.status, 200);
  t.equal(answer.body, 'seen https://example.com:8443/app/users?x=1');
  t.same(answer.rawHeaders.filter((_, i, all) => all[i - 1]?.toLowerCase() === 'set-cookie'), ['a=1', 'b=2'], 'two Set-Cookie lines');
  const [call] = calls;
  const bindings = call!.rest[0] as { incoming: IncomingMessage; outgoing: ServerResponse };
  t.equal(call!.rest.length, 1);
  t.type(bindings.incoming, IncomingMessage, 'incoming is node\'s request');
  t.type(bindings.outgoing, ServerResponse, 'outgoing is node\'s response');
  t.equal(bindings.incoming.socket.remoteAddress, '203.0.113.7', 'its socket reports the fixed client');
  t.equal(bindings.incoming.headers.host, 'example.com:8443', 'its Host is the fixed host');
  t.equal(bindings.incoming.headers['x-forwarded-for'], undefined, 'its spent forwarding headers are gone');
  t.equal(fixedOf(bindings.incoming)?.remoteAddr, '203.0.113.7', 'fixedOf(incoming)');
  t.equal(fixedOf(call!.request)?.url, 'https://example.com:8443/app/users?x=1', 'fixedOf(request)');
});

t.test('a Hono app behind proxyFix on node:http: getConnInfo reads the fixed address', async (t) => {
  const hono = new Hono();
  hono.get('/who', (c) => c.json({ address: getConnInfo(c).remote.address, url: c.req.url }));
  hono.post('/echo', async (c) => c.text(`${getConnInfo(c).remote.address} sent ${await c.req.text()}`));
  const port = await listen(t, toNodeListener(proxyFix(fromFetchHandler(hono.fetch), { xFor: 1, xHost: 1, warnings: false })));
  const forgedAndReal = { 'X-Forwarded-For': '6.6.6.6, 203.0.113.9', 'X-Forwarded-Host': 'example.com', Host: 'internal' };
  t.same(JSON.parse((await request({ port }, { path: '/who', headers: forgedAndReal })).body),
    { address: '203.0.113.9', url: 'http://example.com/who' }, 'the address one proxy in, not the forged one');
  t.same(JSON.parse((await request({ port }, { path: '/who', headers: { Host: 'internal' } })).body),
    { address: '127.0.0.1', url: 'http://internal/who' }, 'no forwarding headers: the socket peer');
  const body = 'x'.repeat(100_000);
  const echoed = await request({ port }, { method: 'POST', path: '/echo', body, headers: forgedAndReal });
  t.equal(echoed.body, `203.0.113.9 sent ${body}`, 'a POST body reaches the handler from node\'s request');
});

t.test('proxyFixFetch', async (t) => {
  const { calls, handler } = bindingsReporter();
  const withPeer = proxyFixFetch(handler, { xFor: 1, xProto: 1, trusted: ['10.0.0.0/8'], getPeer: peer('10.0.0.2', 1234) });
  const answer = await withPeer(new Request('http://a.example/p', { headers: { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https' } }));
  t.equal(await answer.text(), 'seen https://a.example/p');
  t.equal(fixedOf(calls[0]!.request)?.remoteAddr, '203.0.113.7', 'getPeer is used for trust, the rest goes to proxyFix');

  await proxyFixFetch(handler)(new Request('http://a.example/q', { headers: { 'X-Forwarded-For': '203.0.113.8' } }));
  t.equal(fixedOf(calls[1]!.request)?.remoteAddr, '203.0.113.8', 'no options: proxyFix\'s defaults (xFor 1)');

  t.throws(() => proxyFixFetch(handler, null as never), { code: 'ERR_PROXYFIX_OPTION_TYPE', message: /^`options` must be an object, got null/ },
    'options that are not an object: proxyFix\'s own error');
  t.throws(() => proxyFixFetch(handler, { getPeer: 'x' as never }), { name: 'TypeError', option: 'getPeer' });
  t.throws(() => proxyFixFetch(handler, { xFour: 1 } as never), { name: 'TypeError', option: 'xFour' }, 'a misspelt proxyFix option');
  t.throws(() => proxyFixFetch(new Hono() as never), { message: /pass its fetch method, bound to it$/ });
});

// Last: @hono/node-server replaces the global Request and Response with its own when it serves.
t.test('proxyFixFetch on @hono/node-server: the peer without configuration, and getConnInfo', async (t) => {
  const { serve } = await import('@hono/node-server');
  const hono = new Hono();
  hono.post('/who', async (c) => c.json({ address: getConnInfo(c).remote.address, url: c.req.url, body: await c.req.text() }));
  const server = serve({ fetch: proxyFixFetch(hono.fetch, { xFor: 1, xProto: 1, trusted: ['loopback'] }), port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.teardown(() => { server.close(); });
  const port = (server.address() as AddressInfo).port;
  const answer = await request({ port }, {
    method: 'POST', path: '/who', body: 'hello', headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' },
  });
  t.same(JSON.parse(answer.body), { address: '203.0.113.9', url: `https://127.0.0.1:${port}/who`, body: 'hello' },
    'the loopback peer found from the bindings is trusted; Hono reports the client');
});

t.test('requestToEnv on @hono/node-server takes the scheme from the socket, not from the target', async (t) => {
  const dir = tempDir(t);
  certificate(dir);
  const seen: string[] = [];
  const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    // What @hono/node-server builds for an absolute-form `http://` target on a TLS connection.
    const env = requestToEnv(new Request(`http://${req.headers.host}${req.url}`), [{ incoming: req, outgoing: res }]);
    seen.push(`${env.scheme} ${env.serverPort}`);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/p', rejectUnauthorized: false, agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
  t.strictSame(seen, [`https ${port}`], 'a TLS connection is https whatever the URL says');
});
