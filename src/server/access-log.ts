/**
 * The access log: one line per request in Apache's combined log format, which log tools already
 * read, with the client address as the app saw it after proxyFix (the point of running behind a
 * proxy). A client writes part of every line (request line, Referer, User-Agent), so those fields
 * are escaped: no client can forge a second line or break the quoting.
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
 * A log field between quotes, escaped as Apache does: a client controls the request line, Referer
 * and User-Agent, and must not be able to forge a second log line or break the quoting.
 */
export function logQuoted(value: string | undefined): string {
  if (value === undefined) return '"-"';
  return `"${value.replace(/[\\"]|[^\x20-\x7e]/g, (c) =>
    c === '\\' || c === '"' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

export interface CombinedLogFields {
  /** The client address; `""` is written as `-`. */
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
  return `${f.remoteAddr || '-'} - - [${logTime(f.time)}] ${logQuoted(f.requestLine)} ${f.status} ` +
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
 * The line for a request the server refused before the app saw it (a broken or oversized head):
 * no request line was read, and the only address known is the peer's.
 */
export function refusedLine(peerAddr: string, status: number, bytes: number): string {
  return combinedLogLine({
    remoteAddr: peerAddr, time: new Date(), requestLine: undefined,
    status, bytes, referer: undefined, userAgent: undefined,
  });
}
