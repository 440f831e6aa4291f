/**
 * `serve({ proxyProtocol })`: read the PROXY protocol header off each connection before HTTP starts.
 *
 * The header names the client, so it is believed only from the balancers in `trusted`, and they
 * must send it: a receiver configured for the protocol never guesses whether a header is there (the
 * spec, 2.1), since a guess would let whoever reaches the port directly choose. So:
 * - a trusted peer's connection must start with a valid header, whole within `timeout`;
 * - any other peer's connection must not start with one (its first bytes are looked at until they
 *   cannot be a signature: a method's first letters, also within `timeout`);
 * - otherwise the connection is closed before node reads a request from it, and the refusal is
 *   logged, rate-limited, per address (./refusals.ts).
 *
 * What the header means for a request (`onEnv`): a `PROXY` command's source address and port become
 * `remoteAddr` and `remotePort`, so proxyFix's trust walk starts from the client the balancer saw.
 * `LOCAL` (a balancer's health check) and an unknown family (`UNKNOWN`, `AF_UNSPEC`) keep the socket
 * peer, as the spec says. A Unix-socket client of the balancer (`AF_UNIX`) gets `remoteAddr`
 * `"unknown"`: not `""`, which stands for this server's own Unix socket peers (a local nginx) and
 * which `trustUnixSocket` trusts; the paths are in the record.
 * A header for a datagram (UDP) flow is refused: HTTP/1.1 runs over a stream, so a balancer that
 * sends one here is misconfigured. The header and the real socket peer are in
 * `env.ext["proxyfix.proxyProtocol"]`, once per connection and frozen, for every request on it.
 *
 * Handing the connection to node: node's HTTP server reads a fresh socket's handle directly in C++
 * (llhttp consumes the handle) and so never sees bytes already read in JavaScript. The http.Server
 * stays the listener and this module takes over its 'connection' listener: it reads the header with
 * a 'data' listener, then pauses the socket, puts the bytes after the header back at the front of
 * its buffer (`unshift`), calls node's listener (which consumes the handle: later bytes go straight
 * to the parser), and resumes. Resuming emits the buffered bytes, in order, on the next tick,
 * before any later read can reach the parser: a body or pipelined requests in the header's packet
 * arrive whole and in order, and keep-alive requests after them cost what they cost without it.
 *
 * node's timeouts start when its listener runs, so `headersTimeout` starts after the header. At
 * shutdown, a connection still waiting for its header is closed by `closeIdleConnections()`, which
 * node's `close()` calls, and serve closes one that has sent its header and no request yet as it
 * closes one that has sent nothing (`requestBytesRead`): neither holds up a shutdown.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { peerAddress } from '../adapters/node.js';
import type { GatewayEnv } from '../gateway.js';
import {
  parseProxyHeader, PROXY_PROTOCOL, proxySignature, type ProxyHeader, type ProxyHeaderLimits, type ProxyProtocolRecord,
} from '../net/proxy-protocol.js';
import type { RefusalLog } from './refusals.js';
import type { ProxyProtocolSettings } from './settings.js';

export { PROXY_PROTOCOL, type ProxyProtocolRecord };

/** Why a connection was refused; each is counted under its own name in the log. */
const UNTRUSTED = 'a PROXY protocol header from a peer not in proxyProtocol.trusted';
const MISSING = 'no PROXY protocol header from a trusted peer';
const MALFORMED = 'a malformed PROXY protocol header';
const LATE = 'no whole PROXY protocol header within proxyProtocol.timeout';
/**
 * A peer not trusted has as long to show that it sends no header (a request's first bytes), or
 * `headersTimeout` if that is shorter: node's own wait starts again after it.
 */
const SILENT = 'no request within proxyProtocol.timeout';
const SILENT_HEADERS = 'no request within headersTimeout';

/** One per server: it reads the headers on its addresses and puts them into requests' envs. */
export interface ProxyProtocolReader {
  /** Take over `server`'s connections; refusals go to `refusals`. */
  attach(server: Server, refusals: RefusalLog): void;
  /** `ServingOptions.onEnv`: the header's client into the env. */
  onEnv(env: GatewayEnv, req: IncomingMessage): void;
  /** The client a connection's header named, for a log line about it; `undefined` without one. */
  clientOf(socket: Duplex): string | undefined;
  /** The bytes node has read of a connection's requests: its header is not a request. */
  requestBytesRead(socket: Socket): number;
}

export function proxyProtocolReader(settings: ProxyProtocolSettings, headersTimeout: number): ProxyProtocolReader {
  const records = new WeakMap<Duplex, ProxyProtocolRecord>();
  /** The length of each connection's header, read here before node had the socket. */
  const headerBytes = new WeakMap<Socket, number>();
  const limits: ProxyHeaderLimits = { versions: settings.versions };

  function attach(server: Server, refusals: RefusalLog): void {
    // node's own listener, the first: it starts HTTP on a socket. It runs once the header is read.
    const [startHttp] = server.listeners('connection') as ((this: Server, socket: Socket) => void)[];
    server.removeListener('connection', startHttp!);
    /** Connections still being read here: node does not know them yet, so its close() would wait for them. */
    const waiting = new Set<Socket>();
    const closeIdleConnections = server.closeIdleConnections;
    server.closeIdleConnections = function closeIdleAndWaiting(this: Server) {
      for (const socket of waiting) socket.destroy();
      closeIdleConnections.call(this);
    };
    server.prependListener('connection', (socket: Socket) => readHeader(socket));

    function readHeader(socket: Socket): void {
      // A TCP peer with no address has gone already (reset before it was accepted, as a balancer's
      // health check may): not a Unix socket peer (see peerAddress), and nothing to read or log.
      const peer = peerAddress(socket);
      if (peer === 'unknown') {
        socket.destroy();
        return;
      }
      const trusted = settings.isTrusted(peer);
      let buffered: Buffer | undefined;
      waiting.add(socket);
      const wait = trusted ? settings.timeout : Math.min(settings.timeout, headersTimeout);
      const late = trusted ? LATE : wait < settings.timeout ? SILENT_HEADERS : SILENT;
      const timer = setTimeout(() => refuse(late, `${late} (${wait} ms)`), wait);

      function onData(chunk: Buffer): void {
        const bytes = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
        if (!trusted) {
          const signature = proxySignature(bytes);
          if (signature === 'none') handOff(bytes, undefined);
          else if (signature === 'partial') buffered = bytes;
          else refuse(UNTRUSTED);
          return;
        }
        const result = parseProxyHeader(bytes, limits);
        if (result.kind === 'incomplete') {
          buffered = bytes;
        } else if (result.kind === 'absent') {
          refuse(MISSING);
        } else if (result.kind === 'invalid') {
          refuse(MALFORMED, `${MALFORMED} (${result.reason})`);
        } else if (result.header.command === 'PROXY' && result.header.transport === 'dgram') {
          refuse(MALFORMED, `${MALFORMED} (a UDP flow's header: HTTP runs over a stream)`);
        } else {
          headerBytes.set(socket, result.length);
          handOff(bytes.subarray(result.length), recordOf(socket, result.header));
        }
      }

      function done(): void {
        clearTimeout(timer);
        waiting.delete(socket);
        socket.removeListener('data', onData);
        socket.removeListener('end', onEnd);
        socket.removeListener('error', onError);
        socket.removeListener('close', done);
      }

      function onEnd(): void {
        // The peer has sent all it will (every byte went through onData first). Nothing at all is a
        // connect-only health check; part of a trusted peer's header is a broken one.
        if (trusted && buffered !== undefined) refuse(MALFORMED, `${MALFORMED} (the connection ended inside it)`);
        else onError();
      }

      function onError(): void {
        // The peer went away before its header or request: nothing to refuse or log.
        done();
        socket.destroy();
      }

      function refuse(kind: string, detail = kind): void {
        done();
        socket.destroy();
        refusals.refused(kind, `${detail}, from ${peer || 'a Unix socket'}`);
      }

      function handOff(rest: Buffer, record: ProxyProtocolRecord | undefined): void {
        done();
        if (record !== undefined) records.set(socket, record);
        // Paused, so that node's 'data' listener does not start the flow before its parser is in place.
        socket.pause();
        if (rest.length > 0) socket.unshift(rest);
        startHttp!.call(server, socket);
        socket.resume();
      }

      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', done);
    }
  }

  return {
    attach,
    onEnv(env, req) {
      const record = records.get(req.socket);
      if (record === undefined) return;
      env.ext[PROXY_PROTOCOL] = record;
      env.remoteAddr = record.client.address;
      env.remotePort = record.client.port;
    },
    clientOf(socket) {
      return records.get(socket)?.client.address;
    },
    requestBytesRead(socket) {
      return socket.bytesRead - (headerBytes.get(socket) ?? 0);
    },
  };
}

/** The record of a connection's header, frozen: every request on the connection shares it. */
function recordOf(socket: Socket, header: ProxyHeader): ProxyProtocolRecord {
  const socketPeer = { address: peerAddress(socket), port: socket.remotePort === undefined ? '' : String(socket.remotePort) };
  const source = header.command === 'PROXY' ? header.source : undefined;
  const client = source === undefined ? socketPeer
    : 'path' in source ? { address: 'unknown', port: '' }
    : { address: source.address, port: String(source.port) };
  return deepFreeze({ socketPeer, client, header });
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (typeof inner === 'object' && inner !== null) deepFreeze(inner as object);
  return Object.freeze(value);
}
