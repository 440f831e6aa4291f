/**
 * Bodies stream through every adapter path, both ways, with memory bounded: a 50 MiB upload that
 * the client makes chunk by chunk and the app counts and hashes as it reads, a 50 MiB download
 * that the app makes chunk by chunk and the client hashes as it reads, a client that stops
 * reading half way, which must stop the app's producer instead of filling the server's memory,
 * and a client that leaves half way, which must close the producer.
 *
 * The servers run in a child (test/fixtures/streaming-server.ts) that does nothing else, so the
 * memory it reports is theirs; the bound is far below the body size, which is what buffering a
 * body anywhere on the way would cost. Every request carries an X-Forwarded-For from loopback,
 * which the child trusts, and the upload's answer says which client address the app's framework
 * saw: proof that proxyFix is really on each path measured.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { root } from './fixtures/child.js';
import { sleep } from './fixtures/http-client.js';
import { bodyChunks, bodyHash, CHUNK, SIZE } from './fixtures/stream-body.js';

// 700 MiB cross loopback here: well within 30 s on an idle machine, not on a loaded 2-core one.
t.setTimeout(120_000);

const MiB = 1024 * 1024;
/**
 * Live memory the server may gain during a 50 MiB transfer. Streaming paths gain under 1 MiB (a
 * few chunks in flight); a path that buffered the body, or let its producer run ahead, would gain
 * tens of MiB at the sample points.
 */
const GROWTH_LIMIT = 8 * MiB;
/**
 * How many chunks the server may hold, made but not yet handed to the kernel, while its client is
 * paused: each stream's high-water mark on the way, a chunk or two apiece, with room to spare.
 * What the kernel holds is not counted: loopback sockets may grow their buffers to tens of MiB
 * (Debian's tcp_rmem allows 32 MiB here), which says nothing about the adapters.
 */
const AHEAD_LIMIT = 32;
/** Where the slow client stops reading. */
const PAUSE_AT = 4 * MiB;
/**
 * Where, in bytes, a download stops for the server to sample its memory. Each sample is a full
 * collection (see the fixture), so there is one per transfer: half way through a download, and
 * before the last chunk of an upload.
 */
const MIDWAY = SIZE / 2;

/** The paths, each named as the child names its server. */
const PATHS = [
  'toNodeListener(gateway app)',
  'proxyFixNode(node listener)',
  'proxyFixNode(Express app)',
  'proxyFixNode(Koa callback)',
  'Fastify serverFactory + proxyFixNode',
  'proxyFixFetch(Hono) on @hono/node-server',
  'toNodeListener(proxyFix(fromFetchHandler(handler)))',
] as const;

interface Report {
  type: 'report';
  growth: number;
  produced: number;
  closed: number;
}

/** The child with its servers, and a way to ask it for a measurement. */
class StreamingServer {
  readonly child: ChildProcess;
  readonly ready: Promise<Record<string, number>>;
  stderr = '';
  #waiting: { type: string; resolve: (message: any) => void }[] = [];

  constructor() {
    this.child = spawn(process.execPath,
      ['--expose-gc', '--no-concurrent-array-buffer-sweeping', '--conditions=@proxyfix/source', ...process.execArgv, 'test/fixtures/streaming-server.ts'],
      { cwd: root, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; });
    this.child.on('message', (message: { type: string }) => {
      const at = this.#waiting.findIndex((w) => w.type === message.type);
      if (at !== -1) this.#waiting.splice(at, 1)[0]!.resolve(message);
    });
    this.child.on('exit', () => {
      for (const w of this.#waiting.splice(0)) w.resolve(Promise.reject(new Error(`streaming server exited; stderr:\n${this.stderr}`)));
    });
    this.ready = this.#next('ready').then((message: { ports: Record<string, number> }) => message.ports);
  }

  #next(type: string): Promise<any> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.reject(new Error(`streaming server exited; stderr:\n${this.stderr}`));
    }
    return new Promise((resolve) => this.#waiting.push({ type, resolve }));
  }

  /** The child collects garbage and takes its baseline. */
  async mark(): Promise<void> {
    const marked = this.#next('marked');
    this.child.send({ type: 'mark' });
    await marked;
  }

  /** A sample of live memory, taken now; the client waits for it, so it is taken at a known point. */
  async sample(): Promise<void> {
    const sampled = this.#next('sampled');
    this.child.send({ type: 'sample' });
    await sampled;
  }

  /** What the child found since the last report or mark. */
  async report(): Promise<Report> {
    const report = this.#next('report');
    this.child.send({ type: 'report' });
    return report as Promise<Report>;
  }
}

interface Digest {
  bytes: number;
  sha256: string;
}

/**
 * POST the body, made chunk by chunk as the socket takes it, with a memory sample before the last
 * chunk: a path that collects the body before the app reads it holds nearly all of it then (after
 * the last chunk, it may be done with it before the sample is taken). Resolves with the app's answer.
 */
async function upload(port: number): Promise<Digest & { client: string }> {
  async function* paced() {
    let sent = 0;
    for (const chunk of bodyChunks()) {
      if (sent === SIZE - CHUNK) await server.sample();
      sent += chunk.byteLength;
      yield chunk;
    }
  }
  const req = http.request({
    host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': SIZE, 'x-forwarded-for': '203.0.113.7' },
  });
  const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', resolve).on('error', reject);
  });
  // The same error also fails the pipeline, which reports it.
  answered.catch(() => {});
  await pipeline(Readable.from(paced()), req);
  const res = await answered;
  let text = '';
  for await (const chunk of res.setEncoding('utf8')) text += chunk;
  if (res.statusCode !== 200) throw new Error(`upload answered ${res.statusCode}: ${text}`);
  return JSON.parse(text) as Digest & { client: string };
}

/**
 * The bytes the kernel holds on the loopback connection between `clientPort` and `serverPort`:
 * received and not yet read, or written and not yet taken by the peer (Linux's /proc/net/tcp).
 */
function kernelQueued(clientPort: number, serverPort: number): number {
  let queued = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue ...; addresses are HEXIP:HEXPORT
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    const ports = [local, remote].map((address) => parseInt(address!.split(':')[1]!, 16));
    if ((ports[0] === clientPort && ports[1] === serverPort) || (ports[0] === serverPort && ports[1] === clientPort)) {
      for (const hex of queues!.split(':')) queued += parseInt(hex, 16);
    }
  }
  return queued;
}

function get(port: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/download', agent: false, headers: { 'x-forwarded-for': '203.0.113.7' } }, resolve)
      .on('error', reject);
  });
}

/** Hash the rest of a response as it arrives, stopping (reading nothing) for a memory sample at `sampleAt`. */
async function drain(res: http.IncomingMessage, digest = { bytes: 0, hash: createHash('sha256') }, sampleAt = MIDWAY): Promise<Digest> {
  let sampled = digest.bytes >= sampleAt;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    digest.bytes += chunk.byteLength;
    digest.hash.update(chunk);
    if (!sampled && digest.bytes >= sampleAt) {
      sampled = true;
      await server.sample();
    }
  }
  return { bytes: digest.bytes, sha256: digest.hash.digest('hex') };
}

const server = new StreamingServer();
t.teardown(() => { server.child.disconnect(); });
const expected: Digest = { bytes: SIZE, sha256: bodyHash() };
const ports = await server.ready;

for (const path of PATHS) {
  const port = ports[path]!;

  t.test(path, async (t) => {
    await server.mark();

    t.test('a 50 MiB upload reaches the app whole, as a stream', async (t) => {
      await server.report();
      const answer = await upload(port);
      const { growth } = await server.report();
      t.same(answer, { ...expected, client: '203.0.113.7' }, 'the app counted and hashed every byte, and saw the forwarded client');
      t.ok(growth < GROWTH_LIMIT, `live memory grew ${(growth / MiB).toFixed(1)} MiB (limit ${GROWTH_LIMIT / MiB})`);
    });

    t.test('a 50 MiB download reaches the client whole, made as it is read', async (t) => {
      await server.report();
      const res = await get(port);
      t.equal(res.statusCode, 200);
      const received = await drain(res);
      const { growth, produced, closed } = await server.report();
      t.same(received, expected, 'the client hashed every byte');
      t.equal(produced, SIZE / CHUNK, 'each chunk was made once');
      t.equal(closed, 1, 'the producer was closed');
      t.ok(growth < GROWTH_LIMIT, `live memory grew ${(growth / MiB).toFixed(1)} MiB (limit ${GROWTH_LIMIT / MiB})`);
    });

    t.test('a client that stops reading stops the producer', async (t) => {
      await server.report();
      const res = await get(port);
      const digest = { bytes: 0, hash: createHash('sha256') };
      await new Promise<void>((resolve) => {
        const onData = (chunk: Buffer) => {
          digest.bytes += chunk.byteLength;
          digest.hash.update(chunk);
          if (digest.bytes >= PAUSE_AT) {
            res.pause();
            res.off('data', onData);
            resolve();
          }
        };
        res.on('data', onData);
      });
      const beforePause = await server.report();
      // Long enough for the kernel's buffers to fill, and for an unbounded producer to make the whole body.
      await sleep(300);
      await server.sample();
      const duringPause = await server.report();
      const made = beforePause.produced + duringPause.produced;
      const kernel = kernelQueued(res.socket.localPort!, port);
      const atClient = digest.bytes + res.readableLength;
      const held = made * CHUNK - atClient - kernel;
      t.ok(held < AHEAD_LIMIT * CHUNK,
        `the server holds ${(held / CHUNK).toFixed(1)} chunks (limit ${AHEAD_LIMIT}): it made ${made} ` +
        `(${duringPause.produced} during the pause), the client has ${(atClient / CHUNK).toFixed(1)}, ` +
        `the kernel ${(kernel / CHUNK).toFixed(1)}`);
      t.ok(duringPause.growth < GROWTH_LIMIT,
        `live memory grew ${(duringPause.growth / MiB).toFixed(1)} MiB while the client was paused (limit ${GROWTH_LIMIT / MiB})`);
      t.same(await drain(res, digest, Infinity), expected, 'once resumed, the client gets the rest, whole');
    });

    t.test('a client that leaves half way closes the producer', async (t) => {
      await server.report();
      const res = await get(port);
      let received = 0;
      // Leaving the loop destroys the response, and with it the connection.
      for await (const chunk of res as AsyncIterable<Buffer>) {
        received += chunk.byteLength;
        if (received >= PAUSE_AT) break;
      }
      let made = 0;
      let closed = 0;
      // The server hears of it when the connection closes; waiting is bounded by count, checked by the assertion.
      for (let polls = 0; closed === 0 && polls < 100; polls++) {
        await sleep(20);
        const report = await server.report();
        made += report.produced;
        closed += report.closed;
      }
      t.equal(closed, 1, 'the producer was closed');
      t.ok(made < SIZE / CHUNK, `it made ${made} of ${SIZE / CHUNK} chunks`);
    });
  });
}
