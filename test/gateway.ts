import t from 'tap';
import { writeChanges } from '../src/fields.js';
import { createEnv, lintEnv, lintResponse, originalValue, splitHostHeader, ORIGINALS } from '../src/gateway.js';

t.test('createEnv defaults', async (t) => {
  const env = createEnv();
  t.match(env, {
    method: 'GET', scheme: 'http', host: '', serverName: 'localhost', serverPort: '80', scriptName: '',
    pathInfo: '/', queryString: '', remoteAddr: '127.0.0.1', remotePort: '', headers: {}, ext: {},
  });
  t.same(lintEnv(env), []);
  const chunks = [];
  for await (const chunk of env.body) chunks.push(chunk);
  t.same(chunks, [], 'the default body is empty');
});

t.test('createEnv follows the Host header and the URL', async (t) => {
  t.match(createEnv({ headers: { Host: 'example.com:8080' }, url: '/a/b?x=1&y' }), {
    host: 'example.com:8080', serverName: 'example.com', serverPort: '8080', pathInfo: '/a/b', queryString: 'x=1&y',
    headers: { host: 'example.com:8080' },
  });
  t.match(createEnv({ host: '[::1]', scheme: 'https', url: '/p' }), {
    serverName: '[::1]', serverPort: '443', pathInfo: '/p', queryString: '',
  });
  t.match(createEnv({ scheme: 'wss' }), { serverPort: '443' });
  t.match(createEnv({ pathInfo: '/x', queryString: 'q' }), { pathInfo: '/x', queryString: 'q' });
});

t.test('createEnv joins repeated header lines in order, whatever their case', async (t) => {
  const env = createEnv({ headers: { 'X-Forwarded-For': ['1.1.1.1', '2.2.2.2'], 'x-forwarded-for': '3.3.3.3' } });
  t.same(env.headers, { 'x-forwarded-for': '1.1.1.1, 2.2.2.2, 3.3.3.3' });
});

t.test('splitHostHeader', async (t) => {
  const cases: [string, string, string][] = [
    ['example.com', 'example.com', ''],
    ['example.com:8080', 'example.com', '8080'],
    ['[2001:db8::1]', '[2001:db8::1]', ''],
    ['[2001:db8::1]:443', '[2001:db8::1]', '443'],
    ['2001:db8::1', '2001:db8::1', ''],
    ['', '', ''],
  ];
  for (const [host, name, port] of cases) t.same(splitHostHeader(host), { name, port }, host);
});

t.test('writeChanges records the first original only', async (t) => {
  const env = createEnv({ remoteAddr: '10.0.0.1' });
  writeChanges(env, { remoteAddr: '10.0.0.1' });
  t.equal(env.ext[ORIGINALS], undefined, 'an unchanged value is not recorded');
  writeChanges(env, { remoteAddr: '192.0.2.1' });
  writeChanges(env, { remoteAddr: '192.0.2.2', scheme: 'https' });
  t.equal(env.remoteAddr, '192.0.2.2');
  t.same(env.ext[ORIGINALS], { remoteAddr: '10.0.0.1', scheme: 'http' });
  t.equal(originalValue(env, 'remoteAddr'), '10.0.0.1');
  t.equal(originalValue(env, 'scheme'), 'http');
});

t.test('lintEnv names every problem', async (t) => {
  t.same(lintEnv(null), ['env is not an object']);
  t.same(lintEnv('env'), ['env is not an object']);
  const bad = {
    method: 'G T', scheme: 'HTTPS', host: 1, serverName: 'x', serverPort: 'eighty', scriptName: '/app/',
    pathInfo: 'users', queryString: '?q', remoteAddr: '[::1]', remotePort: 'x', headers: { Host: 'x', a: 1 },
    body: 'text', ext: null,
  };
  t.same(lintEnv(bad), [
    'host is not a string',
    'method "G T" is not an HTTP token',
    'scheme "HTTPS" is not a lower-case URI scheme',
    'serverPort "eighty" is not a decimal number',
    'remotePort "x" is neither a decimal number nor ""',
    'scriptName "/app/" must be "" or start with / and not end with /',
    'pathInfo "users" must be "" or start with /',
    'queryString must not start with ?',
    'remoteAddr "[::1]" must not carry brackets',
    'header name "Host" is not lower case',
    'header "a" is not a string',
    'body is not an async iterable',
    'ext is not an object',
  ]);
  t.same(lintEnv({ ...createEnv(), headers: null, scriptName: 'app' }), [
    'scriptName "app" must be "" or start with / and not end with /',
    'headers is not an object',
  ]);
  t.same(lintEnv({ ...createEnv(), pathInfo: '', scriptName: '/app' }), []);
});

t.test('lintResponse names every problem', async (t) => {
  t.same(lintResponse({ status: 200 }), []);
  t.same(lintResponse({ status: 200, headers: { 'set-cookie': ['a=1', 'b=2'] }, body: 'x' }), []);
  t.same(lintResponse({ status: 204, body: new Uint8Array(0) }), []);
  t.same(lintResponse({ status: 200, body: (async function* () {})() }), []);
  t.same(lintResponse(undefined), ['response is not an object']);
  t.same(lintResponse({ status: 99, headers: 'x' }), ['status 99 is not an integer from 100 to 999', 'headers is not an object']);
  t.same(lintResponse({ status: 200.5, headers: null }), ['status 200.5 is not an integer from 100 to 999', 'headers is not an object']);
  t.same(lintResponse({ status: 1000, headers: { 'a b': 'x', c: 1, d: ['ok\r\nx: y'] }, body: 1 }), [
    'status 1000 is not an integer from 100 to 999',
    'header name "a b" is not a token',
    'header "c" has a value that is not a string',
    'header "d" has CR, LF or NUL in its value',
    'body is neither a string, a Uint8Array nor an async iterable',
  ]);
});

t.test('createEnv keeps a header named __proto__ or constructor, as the adapters do', async (t) => {
  // As a server would read them: names from the wire, not an object literal (where `__proto__` sets the prototype).
  const env = createEnv({ headers: Object.fromEntries([['__proto__', 'a'], ['Constructor', 'b'], ['x-a', '1']]) });
  t.same(Object.keys(env.headers).sort(), ['__proto__', 'constructor', 'x-a']);
  t.equal(env.headers['__proto__'], 'a');
  t.equal(env.headers.constructor, 'b');
  t.same(lintEnv(env), []);
});
