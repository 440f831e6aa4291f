/**
 * `proxyfix check`: prove a live proxy chain safe, tell the right options, and draw the chain.
 *
 * Almost every real failure with forwarded headers is a deployment mistake, found after an
 * incident: a count higher than the number of proxies, a proxy that appends to what a client sent,
 * a client's `Forwarded` passed through, an app reachable without the proxy. The check finds them
 * before: it sends a small, fixed series of requests that forge each forwarding header through the
 * public URL (./plan.ts), to the probe the app mounts (../middleware/probe.ts), and reads in the
 * answers what reached the app (./analyse.ts). It is pointed at production, so it is bounded in
 * requests and time (./run.ts) and sends nothing but its token and the forged headers.
 *
 * The folder: plan.ts (the requests), run.ts (sending them), analyse.ts (the findings),
 * recommend.ts (the options), samples.ts (the shipped configs), report.ts (text, JSON, HTML).
 */
import { checkOptions, configError, describe, isVisibleAscii } from '../options.js';
import { analyse } from './analyse.js';
import { planRequests, probeUrl } from './plan.js';
import { reportHtml, reportJson, reportText, type CheckReport } from './report.js';
import { runPlan, type Progress } from './run.js';

export type { Finding, FindingId, HeaderReport, Severity, ClientValue, Recommendation } from './analyse.js';
export type { CheckReport } from './report.js';
export type { Progress, Outcome } from './run.js';
export { progressLine } from './report.js';

export interface CheckOptions {
  /** The probe's token: sent in `proxyfix-probe-token` with every request. */
  token: string;
  /**
   * The app's own address, to try the same requests without the proxies (`http://10.0.0.5:8000/`).
   * A URL ending in `/` gets the probe path appended, as the public one does.
   * @default undefined (not tried)
   */
  direct?: string;
  /**
   * Give up on whatever is left after this long.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Send no more than this many requests (the plan has 11 per URL).
   * @default 40
   */
  maxRequests?: number;
  /**
   * CA certificates (PEM) to trust for https:// URLs besides the system's (a test certificate, say).
   * @default undefined
   */
  ca?: string;
  /**
   * The local address to send from, where the machine has several.
   * @default undefined (the system's choice)
   */
  localAddress?: string;
  /** Called after each request, for progress output (`progressLine` words it). */
  onProgress?: (progress: Progress) => void;
}

const KNOWN_OPTIONS = new Set(['token', 'direct', 'timeoutMs', 'maxRequests', 'ca', 'localAddress', 'onProgress']);
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_REQUESTS = 40;

function checkCheckOptions(options: CheckOptions): Required<Pick<CheckOptions, 'timeoutMs' | 'maxRequests'>> {
  checkOptions(options, KNOWN_OPTIONS, 'check');
  const { token, timeoutMs = DEFAULT_TIMEOUT_MS, maxRequests = DEFAULT_MAX_REQUESTS } = options;
  if (!isVisibleAscii(token)) {
    // Not quoted back: it is a secret.
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'token', 'is required: the probe\'s token, visible ASCII characters only');
  }
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs === Infinity) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'timeoutMs', `must be a positive number of milliseconds, got ${describe(timeoutMs)}`);
  }
  if (!Number.isSafeInteger(maxRequests) || maxRequests < 1) {
    throw configError('ERR_PROXYFIX_OPTION_RANGE', 'maxRequests', `must be a whole number of at least 1, got ${describe(maxRequests)}`);
  }
  for (const option of ['ca', 'localAddress'] as const) {
    if (options[option] !== undefined && typeof options[option] !== 'string') {
      throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be a string, got ${describe(options[option])}`);
    }
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', 'onProgress', `must be a function, got ${describe(options.onProgress)}`);
  }
  return { timeoutMs, maxRequests };
}

/**
 * Check the deployment behind `url`: send the planned requests to the probe, through the proxies
 * (and straight to the app at `direct`), and say what reached the app.
 *
 * @example
 * const report = await check('https://example.com/', { token: process.env.PROBE_TOKEN! });
 * for (const finding of report.findings) console.log(finding.severity, finding.message);
 * process.exitCode = report.status;
 */
export async function check(url: string, options: CheckOptions): Promise<CheckReport> {
  const bounds = checkCheckOptions(options);
  const target = probeUrl(url, 'url');
  const direct = options.direct === undefined ? undefined : probeUrl(options.direct, 'direct');
  const plan = planRequests(target, direct);
  const started = Date.now();
  const exchanges = await runPlan(plan, { ...options, ...bounds });
  const elapsedMs = Date.now() - started;
  const analysis = analyse(exchanges, target.href, direct?.href);
  const sent = exchanges.filter((e) => e.outcome.kind !== 'not-sent').length;
  const answered = exchanges.filter((e) => e.outcome.kind === 'answer' || e.outcome.kind === 'other').length;
  return {
    url: target.href,
    direct: direct?.href ?? null,
    status: analysis.status,
    verdict: analysis.verdict,
    findings: analysis.findings,
    headers: analysis.headers,
    current: analysis.current,
    recommended: analysis.recommended,
    chain: analysis.chain,
    requests: { planned: plan.length, sent, answered, elapsedMs },
  };
}

/** A check and everything the command line prints or writes for it. */
export interface CheckRun {
  report: CheckReport;
  /** 0 safe and right, 1 spoofable, 2 wrong but not exploitable, 3 the probe unreachable or the check incomplete. */
  exitStatus: CheckReport['status'];
  text: string;
  json: string;
  html: string;
}

/** `check`, with the report in each form `proxyfix check` can give it. */
export async function runCheck(options: CheckOptions & { url: string }): Promise<CheckRun> {
  const { url, ...rest } = options;
  const report = await check(url, rest);
  return { report, exitStatus: report.status, text: reportText(report), json: reportJson(report), html: reportHtml(report) };
}
