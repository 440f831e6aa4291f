/**
 * The access log: one line per request in Apache's combined log format, which log tools already
 * read, with the client address as the app saw it after proxyFix (the point of running behind a
 * proxy). A client writes part of every line: the request line, Referer and User-Agent directly,
 * and the address too where a rewriter or an app takes it from a header (THREATS 24). So every
 * field a request can reach is escaped: no client can forge a second line, a field or the quoting.
 *
 * Also where log lines go (`LogSink`), for the access log and the server's own messages alike.
 */
import type { NodeResponseInfo } from '../adapters/node.js';
import { configError, describe } from '../options.js';

/** Where log lines go: a writable stream, a function called with each line, or `false` for nowhere. */
export type LogSink = false | ((line: string) => void) | { write(chunk: string): unknown };

/**
 * The line writer a `LogSink` option stands for (`fallback` when absent); `undefined` for `false`.
 * With `batch`, lines for a stream are gathered and written together once per turn of the event
 * loop (or at 64 KiB): a write per line costs an access log a third of a server's throughput. A
 * function is called with each line as it comes: it is the user's own batching, if any.
 */
export function logWriter(option: string, value: unknown, fallback: { write(chunk: string): unknown }, batch = false): ((line: string) => void) | undefined {
  const chosen = value ?? fallback;
  if (chosen === false) return undefined;
  if (typeof chosen === 'function') return chosen as (line: string) => void;
  const stream = chosen as { write?: unknown };
  if (typeof stream === 'object' && stream !== null && typeof stream.write === 'function') {
    const sink = chosen as { write(chunk: string): unknown };
    return batch ? batched(sink) : (line) => { sink.write(`${line}\n`); };
  }
  throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
    `must be false, a function or a writable stream, got ${describe(value)}`);
}

/** Gathered lines are written at this size even before the turn of the event loop ends. */
const BATCH_BYTES = 64 * 1024;

/**
 * Lines gathered and written to `sink` in one chunk per turn of the event loop. An immediate, not
 * a timer: the lines of a turn are written before the next one starts, and a process that is
 * closing (`RunningServer.close` waits for one) still writes its last lines.
 */
function batched(sink: { write(chunk: string): unknown }): (line: string) => void {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const chunk = pending;
    pending = '';
    if (chunk !== '') sink.write(chunk);
  };
  return (line) => {
    pending += `${line}\n`;
    if (pending.length >= BATCH_BYTES) {
      flush();
    } else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `[10/Oct/2000:13:55:36 -0700]`'s inside, in local time, as Apache writes it. */
export function logTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `${sign}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}`;
}

/**
 * Each character `unsafe` matches, escaped: `"` and `\\` as Apache escapes them, the rest as `\\xHH`
 * (`\\uHHHH` above U+00FF, which an app may put in a field, so that no escape reads two ways).
 * `found` is the same class without the global flag: most values need no escape, and testing a
 * browser's User-Agent for one takes 0.7 of the time replacing in it does.
 */
function escaped(value: string, found: RegExp, unsafe: RegExp): string {
  if (!found.test(value)) return value;
  return value.replace(unsafe, (c) => {
    if (c === '\\' || c === '"') return `\\${c}`;
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

/**
 * A log field between quotes, escaped as Apache does: a client controls the request line, Referer
 * and User-Agent, and must not be able to forge a second log line or break the quoting.
 */
export function logQuoted(value: string | undefined): string {
  return value === undefined ? '"-"' : `"${escaped(value, /[\\"]|[^\x20-\x7e]/, /[\\"]|[^\x20-\x7e]/g)}"`;
}

/** A log field without quotes (the address): escaped like a quoted one, and a space too, so it stays one field; `-` when empty. */
export function logBare(value: string): string {
  return value === '' ? '-' : escaped(value, /[\\"]|[^\x21-\x7e]/, /[\\"]|[^\x21-\x7e]/g);
}

export interface CombinedLogFields {
  /** The client address; `""` is written as `-`. Anything but printable ASCII is escaped. */
  remoteAddr: string;
  time: Date;
  /** `GET /path HTTP/1.1`; `undefined` when no request line was read. */
  requestLine: string | undefined;
  status: number;
  /** Body bytes; `undefined` or 0 is written as `-`. */
  bytes: number | undefined;
  referer: string | undefined;
  userAgent: string | undefined;
}

/** One line in the combined log format: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`. */
export function combinedLogLine(f: CombinedLogFields): string {
  return lineAt(f, logTime(f.time));
}

/** The line, with its time already written (see `logTime`). */
function lineAt(f: Omit<CombinedLogFields, 'time'>, time: string): string {
  return `${logBare(f.remoteAddr)} - - [${time}] ${logQuoted(f.requestLine)} ${f.status} ` +
    `${f.bytes || '-'} ${logQuoted(f.referer)} ${logQuoted(f.userAgent)}`;
}

/**
 * The access line for each request the app answered (`env.remoteAddr` is the address after
 * fixing). The time is written once a second, not once a line: the log's clock ticks in seconds.
 */
export function accessLines(): (info: NodeResponseInfo) => string {
  let second = NaN;
  let time = '';
  return function accessLine({ env, req, res, bytes, startedAt }) {
    const now = Math.floor(startedAt / 1000);
    if (now !== second) {
      second = now;
      time = logTime(new Date(startedAt));
    }
    return lineAt({
      remoteAddr: env.remoteAddr,
      requestLine: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
      status: res.statusCode,
      bytes,
      referer: req.headers.referer,
      userAgent: req.headers['user-agent'],
    }, time);
  };
}

/**
 * The line for a request the server refused before any request line was read (a broken,
 * oversized or too slow head): the only address known is the socket peer's, which behind a proxy
 * is the proxy's. No forwarded header was read for it, nor could be: nothing says which to trust.
 */
export function refusedLine(peerAddr: string, status: number, bytes: number): string {
  return combinedLogLine({
    remoteAddr: peerAddr, time: new Date(), requestLine: undefined,
    status, bytes, referer: undefined, userAgent: undefined,
  });
}
