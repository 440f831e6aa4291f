/**
 * serve({ workers }) with real node:cluster workers, in a child process (a cluster primary runs its
 * script again in each worker, so the test process itself cannot be one).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, sleep } from './fixtures/http-client.js';
import { Running } from './fixtures/child.js';

// Each worker loads the TypeScript loader anew: these tests take tens of seconds, not 30 s in total.
t.setTimeout(180_000);

const script = 'test/fixtures/cluster-server.ts';

interface Started { addresses: string[]; workers: number[] }

function startCluster(t: Test, options: object, env: Record<string, string> = {}) {
  const child = new Running(script, [], { SERVE_OPTIONS: JSON.stringify(options), ...env });
  t.teardown(() => {
    if (child.child.exitCode === null && child.child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function started(child: Running): Promise<Started & { port: number }> {
  const line = await child.waitFor(/^\{"addresses".*$/m, 'stdout');
  const info = JSON.parse(line[0]) as Started;
  return { ...info, port: Number(info.addresses[0]!.split(':')[1]) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Ask until every pid in `pids` has answered (round-robin spreads new connections). */
async function answeredBy(port: number, pids: number[]): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < 100 && !pids.every((pid) => seen.has(pid)); i++) {
    seen.add(Number((await request({ port })).body));
  }
  return seen;
}

t.test('workers answer; a killed worker is replaced; close() reaches every worker', async (t) => {
  const child = startCluster(t, { workers: 2, restartDelay: 50, maxRestartDelay: 5000 });
  const { port, workers, addresses } = await started(child);
  t.equal(workers.length, 2, 'two workers');
  t.match(addresses, [/^127\.0\.0\.1:\d+$/]);
  t.match(child.stderr, /listening on http:\/\/127\.0\.0\.1:\d+ with 2 worker\(s\)/);
  t.same([...await answeredBy(port, workers)].sort(), [...workers].sort(), 'both workers answer');

  const [victim, survivor] = workers as [number, number];
  process.kill(victim, 'SIGKILL');
  await child.waitFor(new RegExp(`worker ${victim} exited on SIGKILL; starting a new one in 50 ms`));
  await child.waitForCount(/is listening/g, 3);
  child.child.stdin!.write('workers\n');
  const now = (JSON.parse((await child.waitFor(/^\{"workers".*$/m, 'stdout'))[0]) as Started).workers;
  t.equal(now.length, 2);
  t.ok(now.includes(survivor) && !now.includes(victim), 'the dead worker was replaced');
  const replacement = now.find((pid) => pid !== survivor)!;
  t.ok((await answeredBy(port, [replacement])).has(replacement), 'the new worker answers');

  child.child.stdin!.write('close\n');
  const exit = await child.exited;
  t.equal(exit.code, 0);
  t.match(exit.stdout, /closed\n$/);
  t.notOk(now.some(alive), 'every worker has exited');
});

t.test('a worker that keeps dying is replaced more and more slowly, one that served a while at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyfix-workers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const failFile = join(dir, 'fail');
  const child = startCluster(t, { workers: 1, restartDelay: 50, maxRestartDelay: 1500 }, { FAIL_BOOT_FILE: failFile });
  const { port } = await started(child);

  const exitAndWait = async (listening: number) => {
    await request({ port }, { path: '/exit' }).catch(() => undefined);
    await child.waitForCount(/is listening/g, listening);
  };
  await exitAndWait(2);
  t.match(child.stderr, /exited with code 4; starting a new one in 50 ms/);
  await exitAndWait(3);
  t.match(child.stderr, /exited with code 4; starting a new one in 100 ms/, 'died soon after starting: twice the delay');

  // A bad deploy: the next workers fail before they listen, and count as failures too.
  writeFileSync(failFile, '');
  await request({ port }, { path: '/exit' }).catch(() => undefined);
  await child.waitFor(/exited with code 3; starting a new one in 400 ms/);
  rmSync(failFile);
  await child.waitForCount(/is listening/g, 4);
  t.match(child.stderr, /exited with code 3; starting a new one in 400 ms/);

  await sleep(1600);
  await exitAndWait(5);
  t.match(child.stderr.split('\n').filter((line) => line.includes('starting a new one')).at(-1),
    /exited with code 4; starting a new one in 50 ms/, 'after serving longer than maxRestartDelay: the short delay again');

  child.child.stdin!.write('close\n');
  t.equal((await child.exited).code, 0);
});

t.test('workers that fail before they listen make serve() fail', async (t) => {
  const child = startCluster(t, { workers: 2 }, { FAIL_BOOT: '1' });
  const exit = await child.exited;
  t.equal(exit.code, 1);
  t.match(exit.stderr, /worker \d+ exited with code 3 before it was listening/);
  t.match(exit.stderr, /serve failed: a worker exited with code 3 before it was listening; see the log above/);
});

t.test('shutdown: a worker still starting is told once it is ready; a stuck one is killed', async (t) => {
  const child = startCluster(t, { workers: 2, restartDelay: 50, drainTimeout: 3000 });
  const { workers } = await started(child);
  const [restarted, stuck] = workers as [number, number];
  process.kill(restarted, 'SIGKILL');
  // The replacement has started but cannot be listening yet: it has not even loaded serve().
  await child.waitForCount(/worker \d+ booting/g, 3);
  process.kill(stuck, 'SIGSTOP');
  child.child.stdin!.write('close\n');
  const exit = await child.exited;
  t.equal(exit.code, 0);
  t.match(exit.stderr, new RegExp(`worker ${stuck} did not exit within drainTimeout; killing it`));
  const replacement = /worker (\d+) booting/g;
  const pids = [...exit.stderr.matchAll(replacement)].map((m) => Number(m[1]));
  t.equal(pids.length, 3);
  t.match(exit.stderr, new RegExp(`worker ${pids[2]} is listening`), 'the replacement got ready, then was shut down');
  t.notOk(pids.some(alive), 'no worker is left');
});

t.test('in a worker of a cluster serve() did not start, serve({ workers }) serves as a worker', async (t) => {
  const child = startCluster(t, { workers: 1 }, { OWN_CLUSTER: '1' });
  const exit = await child.exited;
  t.match(exit.stdout, /^"hello from a worker"\n\{"proxyfix":"ready","addresses":\["127\.0\.0\.1:\d+"\]\}\n$/);
});
