/**
 * Sending the planned requests, bounded: a check is pointed at a production URL, so it sends at most
 * `maxRequests` requests, one at a time, gives up on all of them after `timeoutMs`, reads at most
 * MAX_BODY bytes of an answer, and follows no redirect (a redirect is an answer about the URL, not
 * the probe's).
 *
 * node:http sends header lines exactly as given in the flat array form: a repeated name as separate
 * lines, underscores and a `Connection` that names other headers as they are. That is all the plan
 * needs, so there is no hand-written HTTP here.
 */
import http from 'node:http';
import https from 'node:https';
import type { ProbeAnswer } from '../middleware/probe.js';
import { PROBE_TOKEN_HEADER } from '../middleware/probe.js';
import type { PlannedRequest } from './plan.js';

/** The most of an answer read: a probe's answer is a few kilobytes. */
export const MAX_BODY = 1024 * 1024;

/** What one planned request came to. */
export type Outcome =
  /** The probe answered (200 and its JSON). */
  | { kind: 'answer'; status: number; server: string | undefined; answer: ProbeAnswer }
  /** Something answered, but not with a probe answer: a refusal, a redirect, another server. */
  | { kind: 'other'; status: number; server: string | undefined; location: string | undefined; body: string }
  /** No answer: the connection failed, timed out, or the answer was cut or too long. */
  | { kind: 'failed'; error: string }
  /** Not sent: the request or time budget ran out, or the request it builds on got no probe answer. */
  | { kind: 'not-sent'; why: 'requests' | 'time' | 'depends' };

export interface Exchange {
  request: PlannedRequest;
  outcome: Outcome;
}

/** Reported after each request, for a progress line. */
export interface Progress {
  /** 1-based: how many requests have been dealt with, this one included. */
  done: number;
  total: number;
  request: PlannedRequest;
  outcome: Outcome;
}

export interface RunOptions {
  token: string;
  /** Give up on whatever is left after this long. */
  timeoutMs: number;
  /** Send no more than this many requests. */
  maxRequests: number;
  /** CA certificates (PEM) to trust for https:// URLs, besides the system's. */
  ca?: string | undefined;
  /** The local address to send from. */
  localAddress?: string | undefined;
  onProgress?: ((progress: Progress) => void) | undefined;
}

/**
 * Send `plan` in order. A target's other requests compare with its plain request, so they are sent
 * only after that one got a probe answer.
 */
export async function runPlan(plan: readonly PlannedRequest[], options: RunOptions): Promise<Exchange[]> {
  const deadline = Date.now() + options.timeoutMs;
  const exchanges: Exchange[] = [];
  let sent = 0;
  for (const request of plan) {
    const plain = exchanges.find((e) => e.request.target === request.target && e.request.id === 'plain');
    let outcome: Outcome;
    if (sent >= options.maxRequests) {
      outcome = { kind: 'not-sent', why: 'requests' };
    } else if (Date.now() >= deadline) {
      outcome = { kind: 'not-sent', why: 'time' };
    } else if (plain !== undefined && plain.outcome.kind !== 'answer') {
      outcome = { kind: 'not-sent', why: 'depends' };
    } else {
      sent++;
      outcome = await send(request, options, deadline - Date.now());
    }
    exchanges.push({ request, outcome });
    options.onProgress?.({ done: exchanges.length, total: plan.length, request, outcome });
  }
  return exchanges;
}

/** The request's header lines as node:http's flat array: Host first, the plan's lines in order. */
function headerLines(request: PlannedRequest, token: string): string[] {
  const lines = ['Host', request.url.host, ...request.headers.flat(), PROBE_TOKEN_HEADER, token, 'Accept', 'application/json',
    'User-Agent', 'proxyfix-check'];
  if (!request.headers.some(([name]) => name.toLowerCase() === 'connection')) lines.push('Connection', 'close');
  return lines;
}

/** One request, answered within `timeoutMs`. */
export function send(request: PlannedRequest, options: Pick<RunOptions, 'token' | 'ca' | 'localAddress'>, timeoutMs: number): Promise<Outcome> {
  const { url } = request;
  const secure = url.protocol === 'https:';
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outgoing.destroy();
      resolve(outcome);
    };
    const requestOptions: https.RequestOptions = {
      method: 'GET',
      // URL keeps IPv6 literals in brackets; a socket wants them bare.
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      // '' (none in the URL): node takes the scheme's default.
      port: url.port,
      path: `${url.pathname}${url.search}`,
      headers: headerLines(request, options.token) as unknown as http.OutgoingHttpHeaders,
      agent: false,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      ...(secure && options.ca !== undefined ? { ca: options.ca } : {}),
    };
    const outgoing = (secure ? https : http).request(requestOptions, (response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > MAX_BODY) finish({ kind: 'failed', error: `the answer is longer than ${MAX_BODY} bytes` });
        chunks.push(chunk);
      });
      response.on('end', () => finish(outcomeOf(response, Buffer.concat(chunks).toString('utf8'))));
      response.on('error', (error) => finish({ kind: 'failed', error: error.message }));
    });
    outgoing.on('error', (error) => finish({ kind: 'failed', error: error.message }));
    const timer = setTimeout(() => finish({ kind: 'failed', error: `no answer within ${(timeoutMs / 1000).toFixed(1)} s` }), timeoutMs);
    outgoing.end();
  });
}

function outcomeOf(response: http.IncomingMessage, body: string): Outcome {
  const status = response.statusCode!;
  const server = [response.headers.server].flat()[0];
  if (status === 200) {
    const answer = probeAnswer(body);
    if (answer !== undefined) return { kind: 'answer', status, server, answer };
  }
  return { kind: 'other', status, server, location: response.headers.location, body: body.slice(0, 200) };
}

/** The body as a probe answer, if it is one (of the version this check reads). */
function probeAnswer(body: string): ProbeAnswer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const answer = parsed as Partial<ProbeAnswer> | null;
  const isObject = (value: unknown) => typeof value === 'object' && value !== null;
  return isObject(answer) && answer!.probe === 1 && isObject(answer!.before) && isObject(answer!.after) && isObject(answer!.headers)
    ? answer as ProbeAnswer
    : undefined;
}
