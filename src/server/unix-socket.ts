/**
 * Unix socket files for `serve`: taking a path over, and giving back only what is still ours.
 *
 * A listening Unix socket is a file, and libuv removes that file by its path when the server
 * closes, whoever the path belongs to by then. In a deploy that starts the new server on the
 * path while the old one drains, the old one's close would remove the new one's socket, and every
 * later connection would fail. So a server binds a temporary name in the same folder, renames it
 * onto the path (libuv then removes only the temporary name, long gone), and at close removes the
 * path only if it is still the very file it renamed there: same device, same inode.
 *
 * The rename also replaces a stale socket file (one a killed server left) in one step; a live
 * socket, or a file that is not a socket, is refused before anything is bound.
 */
import { lstat, rename, unlink } from 'node:fs/promises';
import net from 'node:net';
import { basename, dirname, join } from 'node:path';

/** The socket file a server put at a path, told apart from any later file there. */
export interface OwnedSocket {
  path: string;
  dev: number;
  ino: number;
}

/**
 * The longest path a Unix socket can have (Linux: `sun_path` holds 108 bytes with the closing NUL).
 * node cuts a longer one short without a word, and would bind a file of another name.
 */
const SOCKET_PATH_LIMIT = 107;

/** For a file operation where a missing file is an answer, not an error. */
function missingIsFine(error: NodeJS.ErrnoException): undefined {
  if (error.code !== 'ENOENT') throw error;
  return undefined;
}

/**
 * Refuse a path that is taken: a socket something answers on (EADDRINUSE, as `listen` says it), or
 * a file that is not a socket. Nothing there, or a socket nothing answers on, is free.
 */
export async function checkSocketPath(path: string): Promise<void> {
  const stats = await lstat(path).catch(missingIsFine);
  if (stats === undefined) return;
  if (!stats.isSocket()) throw new Error(`cannot listen on unix:${path}: the file exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path, () => { probe.destroy(); resolve(true); });
    probe.on('error', () => resolve(false));
  });
  if (alive) {
    throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${path}`), { code: 'EADDRINUSE', syscall: 'listen', address: path });
  }
}

/**
 * The temporary name `path` is bound as, beside it. `owner` is the process that holds the listening
 * socket: every cluster worker of one primary binds the same name, which node shares among them.
 */
export function bindingPath(path: string, owner: number): string {
  const binding = join(dirname(path), `.${basename(path)}.${owner}`);
  for (const name of [path, binding]) {
    if (Buffer.byteLength(name) > SOCKET_PATH_LIMIT) {
      throw new Error(`cannot listen on unix:${path}: ${name} is longer than a Unix socket path can be ` +
        `(${Buffer.byteLength(name)} bytes, at most ${SOCKET_PATH_LIMIT}); choose a shorter path`);
    }
  }
  return binding;
}

/**
 * Move the socket bound at `binding` to `path`, replacing a stale file, and remember which file it
 * is. A worker may find `binding` gone: the worker that bound it first has moved it already.
 */
export async function claimSocketPath(binding: string, path: string): Promise<OwnedSocket> {
  await rename(binding, path).catch(missingIsFine);
  const { dev, ino } = await lstat(path);
  return { path, dev, ino };
}

/** Remove the socket file at close, unless the path holds another file by now (or none). */
export async function releaseSocketPath(owned: OwnedSocket): Promise<void> {
  const now = await lstat(owned.path).catch(missingIsFine);
  if (now?.dev === owned.dev && now.ino === owned.ino) await unlink(owned.path).catch(missingIsFine);
}
