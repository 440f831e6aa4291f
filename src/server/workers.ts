/**
 * Worker processes for `serve({ workers: n })`, on node:cluster.
 *
 * The primary process serves nothing: it starts `n` workers (each runs the same script again and
 * listens on the shared addresses), replaces any that die, and passes shutdown on to all of them.
 * A worker that keeps dying right after it starts (a crash on boot, a bad deploy) is replaced more
 * and more slowly, so the primary does not spin; one that served a while is replaced at once.
 */
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { addressUrl, parseBind, type Bind, type RunningServer, type ServeSettings } from './settings.js';
import { bindingPath, checkSocketPath } from './unix-socket.js';

/** The messages between the primary and its workers. */
interface ReadyMessage {
  proxyfix: 'ready';
  addresses: string[];
}
const SHUTDOWN = { proxyfix: 'shutdown' } as const;

/**
 * The addresses every worker binds, set by the primary. Port 0 is resolved to a free port first:
 * node shares a listening socket among workers that bind the very same address, and lets go of it
 * when the last of them dies, so a replacement binding `host:0` would get a new random port, while
 * one binding the resolved port next to workers that bound `host:0` would find it in use.
 */
const BINDS_ENV = 'PROXYFIX_WORKER_BINDS';

/**
 * `bind` as the workers get it: port 0 replaced by a port that is free now; a Unix socket path
 * checked (free, not too long) here, once, since the workers share the socket node binds for the
 * first of them and do not check it themselves.
 */
async function prepareBind(bind: Bind): Promise<Bind> {
  if ('path' in bind) {
    bindingPath(bind.path, process.pid);
    await checkSocketPath(bind.path);
    return bind;
  }
  if (bind.port !== 0) return bind;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host: bind.host, port: 0 }, resolve);
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return { host: bind.host, port, text: `${bind.host.includes(':') ? `[${bind.host}]` : bind.host}:${port}` };
}

function isMessage(message: unknown, kind: string): boolean {
  return (message as { proxyfix?: unknown } | null)?.proxyfix === kind;
}

/** How long the primary waits past `drainTimeout` for a worker to exit before it kills it. */
const EXIT_GRACE = 2000;

interface Slot {
  worker: Worker | undefined;
  /** When the worker reported that it listens; `undefined` while it starts up. */
  readyAt: number | undefined;
  /** Consecutive workers of this slot that died young. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/**
 * Send without risking an 'error' event: a worker that is exiting may have closed its channel
 * already, and then there is nothing left to tell it.
 */
function send(worker: Worker, message: object): void {
  worker.send(message, (error: Error | null) => error);
}

/** In the primary: start the workers; resolves once all are listening. */
export async function startPrimary(settings: ServeSettings): Promise<RunningServer> {
  const { log } = settings;
  const binds = await Promise.all(settings.binds.map(prepareBind));
  const workerEnv = { [BINDS_ENV]: JSON.stringify(binds.map((bind) => bind.text)) };
  const slots: Slot[] = Array.from({ length: settings.workers }, () => ({
    worker: undefined, readyAt: undefined, failures: 0, restart: undefined,
  }));
  let addresses: readonly string[] = [];
  let starting = true;
  let closing: Promise<void> | undefined;
  let closed: (() => void) | undefined;
  let kill: NodeJS.Timeout | undefined;

  return new Promise<RunningServer>((resolve, reject) => {
    const running: RunningServer = {
      get addresses() { return addresses; },
      servers: [],
      get workers() { return slots.filter((slot) => slot.worker !== undefined).map((slot) => slot.worker!.process.pid!); },
      close,
    };

    function close(): Promise<void> {
      closing ??= new Promise<void>((resolveClose) => {
        closed = resolveClose;
        for (const slot of slots) {
          clearTimeout(slot.restart);
          // A worker still starting up gets the message once it is ready.
          if (slot.readyAt !== undefined) send(slot.worker!, SHUTDOWN);
        }
        kill = setTimeout(() => {
          for (const slot of slots) {
            if (slot.worker === undefined) continue;
            log(`worker ${slot.worker.process.pid} did not exit within drainTimeout; killing it`);
            slot.worker.process.kill('SIGKILL');
          }
        }, settings.drainTimeout + EXIT_GRACE);
        settleIfAllExited();
      });
      return closing;
    }

    function settleIfAllExited() {
      if (closing !== undefined && slots.every((slot) => slot.worker === undefined)) {
        clearTimeout(kill);
        closed!();
      }
    }

    function fork(slot: Slot) {
      const worker = cluster.fork(workerEnv);
      slot.worker = worker;
      slot.readyAt = undefined;
      const pid = worker.process.pid;
      worker.on('message', (message: unknown) => {
        if (!isMessage(message, 'ready')) return;
        slot.readyAt = Date.now();
        addresses = (message as ReadyMessage).addresses;
        log(`worker ${pid} is listening`);
        if (closing !== undefined) send(worker, SHUTDOWN);
        if (starting && slots.every((s) => s.readyAt !== undefined)) {
          starting = false;
          log(`listening on ${addresses.map(addressUrl).join(', ')} with ${slots.length} worker(s)`);
          resolve(running);
        }
      });
      worker.on('exit', (code: number | null, signal: string | null) => {
        const readyAt = slot.readyAt;
        slot.worker = undefined;
        slot.readyAt = undefined;
        const how = signal === null ? `with code ${code}` : `on ${signal}`;
        if (closing !== undefined) {
          settleIfAllExited();
        } else if (starting && readyAt === undefined) {
          // Failing before it ever listened is a start-up error (a bad app, an address in use):
          // replacing it would fail the same way, so give up and say why.
          log(`worker ${pid} exited ${how} before it was listening`);
          void close().then(() => reject(new Error(`a worker exited ${how} before it was listening; see the log above`)));
        } else {
          // Dying before it listens, or soon after, counts against the slot; serving a while clears it.
          if (readyAt !== undefined && Date.now() - readyAt >= settings.maxRestartDelay) slot.failures = 0;
          const delay = Math.min(settings.maxRestartDelay, settings.restartDelay * 2 ** slot.failures);
          slot.failures++;
          log(`worker ${pid} exited ${how}; starting a new one in ${delay} ms`);
          slot.restart = setTimeout(() => fork(slot), delay);
        }
      });
    }

    for (const slot of slots) fork(slot);
  });
}

/**
 * In a worker: the addresses to bind, as the primary resolved them. A worker of a cluster that
 * `serve` did not start binds what it was given.
 */
export function workerBinds(settings: ServeSettings): readonly Bind[] {
  const binds = process.env[BINDS_ENV];
  if (binds === undefined) return settings.binds;
  return (JSON.parse(binds) as string[]).map((text) => parseBind(BINDS_ENV, text));
}

/** In a worker: tell the primary where it listens, and close gracefully when it says so. */
export function attachToPrimary(running: RunningServer): void {
  process.on('message', (message: unknown) => {
    if (isMessage(message, 'shutdown')) void running.close().then(() => process.exit(0));
  });
  const ready: ReadyMessage = { proxyfix: 'ready', addresses: [...running.addresses] };
  process.send!(ready);
}
