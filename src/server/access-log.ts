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

/** The line writer a `LogSink` option stands for (`fallback` when absent); `undefined` for `false`. */
export function logWriter(option: string, value: unknown, fallback: { write(chunk: string): unknown }): ((line: string) => void) | undefined {
  const chosen = value ?? fallback;
  if (chosen === false) return undefined;
  if (typeof chosen === 'function') return chosen as (line: string) => void;
  const stream = chosen as { write?: unknown };
  if (typeof stream === 'object' && stream !== null && typeof stream.write === 'function') {
    return (line) => { (chosen as { write(chunk: string): unknown }).write(`${line}\n`); };
  }
  throw configError('ERR_PROXYFIX_OPTION_TYPE', option,
    `must be false, a function or a writable stream, got ${describe(value)}`);
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
 * Each character `unsafe` matches, escaped: `"` and `\` as Apache escapes them, the rest as `\xHH`
 * (`\uHHHH` above U+00FF, which an app may put in a field, so that no escape reads two ways).
 */
function escaped(value: string, unsafe: RegExp): string {
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
  return value === undefined ? '"-"' : `"${escaped(value, /[\\"]|[^\x20-\x7e]/g)}"`;
}

/** A log field without quotes (the address): escaped like a quoted one, and a space too, so it stays one field; `-` when empty. */
export function logBare(value: string): string {
  return value === '' ? '-' : escaped(value, /[\\"]|[^\x21-\x7e]/g);
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
  return `${logBare(f.remoteAddr)} - - [${logTime(f.time)}] ${logQuoted(f.requestLine)} ${f.status} ` +
    `${f.bytes || '-'} ${logQuoted(f.referer)} ${logQuoted(f.userAgent)}`;
}

/** The line for a request the app answered; `env.remoteAddr` is the address after fixing. */
export function accessLine({ env, req, res, bytes, startedAt }: NodeResponseInfo): string {
  return combinedLogLine({
    remoteAddr: env.remoteAddr,
    time: new Date(startedAt),
    requestLine: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
    status: res.statusCode,
    bytes,
    referer: req.headers.referer,
    userAgent: req.headers['user-agent'],
  });
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
