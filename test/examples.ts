/**
 * Every file in examples/ runs, behind a real nginx set up as its header says, and answers with
 * what its framework reports once fixed: the client's own address (never the 6.6.6.6 it forged),
 * the scheme nginx accepted (http or https), and the host the client asked for. Plus the one
 * command a user types, `npm run example -- NAME`, which builds and runs the example from dist/.
 */
import { readdirSync } from 'node:fs';
import t, { type Test } from 'tap';
import { Running, root } from './fixtures/child.js';
import { firstMessage, nginxFor, startExample, startNpmExample } from './fixtures/examples.js';
import { CLIENTS, forged, MARKERS, send, V4, type Client } from './fixtures/proxy-clients.js';
import { needProxy } from './fixtures/real-proxies.js';

t.setTimeout(120_000);

/** What the client asked for: its Host, which nginx passes on as X-Forwarded-Host. */
const HOST = 'localhost';

type Scheme = 'http' | 'https';

interface ExampleSpec {
  name: string;
  /** Where its `listening on` line goes (`serve` writes its own, on stderr). */
  stream: 'stdout' | 'stderr';
  /** The JSON `/` answers to `client` over `scheme`, asking for HOST. */
  expect(client: Client, scheme: Scheme): Record<string, string>;
  /** For a WebSocket server: the first message to a client connecting over `scheme`. */
  message?(client: Client, scheme: Scheme): Record<string, string>;
}

const url = (scheme: Scheme) => `${scheme}://${HOST}/`;

const EXAMPLES: readonly ExampleSpec[] = [
  { name: 'express', stream: 'stdout', expect: (c, scheme) => ({ ip: c.address, protocol: scheme, hostname: HOST }) },
  { name: 'koa', stream: 'stdout', expect: (c, scheme) => ({ ip: c.address, protocol: scheme, host: HOST }) },
  { name: 'fastify', stream: 'stdout', expect: (c, scheme) => ({ ip: c.address, protocol: scheme, host: HOST }) },
  { name: 'hono', stream: 'stdout', expect: (c, scheme) => ({ address: c.address, url: url(scheme) }) },
  { name: 'node-http', stream: 'stdout', expect: (c, scheme) => ({ address: c.address, url: url(scheme) }) },
  { name: 'gateway', stream: 'stderr', expect: (c, scheme) => ({ remoteAddr: c.address, scheme, host: HOST }) },
  {
    name: 'websocket',
    stream: 'stdout',
    expect: (c, scheme) => ({ address: c.address, url: url(scheme) }),
    message: (c, scheme) => ({ address: c.address, scheme: scheme === 'https' ? 'wss' : 'ws' }),
  },
];

const SCHEMES: readonly Scheme[] = ['http', 'https'];

/** `body` as JSON, failing the test with the body when it is not. */
function json(t: Test, body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    t.fail('the answer is not JSON', { body });
    return undefined;
  }
}

const binary = await needProxy(t, 'nginx');
if (binary !== undefined) {
  t.test('each example behind nginx', async (t) => {
    // The build behind `npm run example` is the slow part: it starts first and runs beside the rest.
    const npmPort = startNpmExample(t, 'node-http');
    npmPort.catch(() => { /* awaited below */ });
    // Examples take a few seconds each to load through the TypeScript loader: start them together.
    const started = await Promise.all(EXAMPLES.map(async (example) => {
      const { port, announced } = await startExample(t, example.name, example.stream);
      return { example, port, announced, ...await nginxFor(t, binary, port) };
    }));

    for (const { example, port, announced, slots, ca } of started) {
      await t.test(`examples/${example.name}.ts`, async (t) => {
        t.equal(announced, port, 'it listens on PORT, and says so');
        for (const client of CLIENTS) {
          for (const scheme of SCHEMES) {
            const to = scheme === 'https' ? slots.https : slots.http;
            const answer = await send(client, to, { headers: { Host: HOST, ...forged(scheme) }, ...(scheme === 'https' ? { ca } : {}) });
            t.equal(answer.status, 200, `${client.label}, ${scheme}: 200`);
            t.strictSame(json(t, answer.body), example.expect(client, scheme), `${client.label}, ${scheme}, forging every forwarding header: the client's values`);
            t.strictSame(MARKERS.filter((marker) => answer.body.includes(marker)), [], 'nothing forged in the answer');
            if (example.message !== undefined) {
              const message = await firstMessage(client, to, { tls: scheme === 'https', ca, host: HOST, headers: forged(scheme) });
              t.strictSame(json(t, message), example.message(client, scheme), `${client.label}, ${scheme === 'https' ? 'wss' : 'ws'}: the WebSocket's first message`);
            }
          }
        }
      });
    }

    await t.test('`npm run example -- node-http` builds, starts and answers', async (t) => {
      const { port, announced } = await npmPort;
      t.equal(announced, port, 'it listens on PORT, and says so');
      const { slots, ca } = await nginxFor(t, binary, port);
      const answer = await send(V4, slots.https, { ca, headers: { Host: HOST, ...forged('https') } });
      t.strictSame(json(t, answer.body), { address: V4.address, url: url('https') }, 'from dist/, through package.json exports, as from src/');
    });
  });
}

t.test('examples/ holds the examples tested here, and the runner knows each', async (t) => {
  const names = EXAMPLES.map((example) => example.name).sort();
  const files = readdirSync(`${root}/examples`).filter((file) => file.endsWith('.ts') && file !== 'run.ts');
  t.strictSame(files.map((file) => file.slice(0, -3)).sort(), names);
  const usage = await new Running('--conditions=@proxyfix/source', ['examples/run.ts']).exited;
  t.equal(usage.code, 2, 'the runner without a name exits 2');
  const listed = /one of: (.*)/.exec(usage.stderr)?.[1]?.split(', ').sort();
  t.strictSame(listed, names, 'and lists every example');
});
