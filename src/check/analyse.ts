/**
 * What the probe's answers say about the deployment, as findings of one plain sentence each.
 *
 * Everything is judged by comparison with the plain request, which carried no forwarding header:
 * whatever the app got in that one, the proxies wrote. So a header's values in the plain answer are
 * its writers; a forged request whose header has more values, or one of the check's markers, shows
 * a client's value getting through; and a field of the app's view that holds a marker shows that the
 * options in force believe it. That last one is what makes a deployment spoofable. The rest (a proxy
 * that appends where the first one should replace, a header passed through that proxyFix does not
 * read, a count that does not fit) is wrong but not exploitable through the options as they are.
 */
import { chainOf, type Chain } from '../chain.js';
import type { ProbeAnswer, ProbeFields } from '../middleware/probe.js';
import { ForwardedFromRight } from '../net/forwarded.js';
import { isBlank, ListFromRight } from '../net/list.js';
import { FORWARDED, FORWARDING, sentValues, X_FORWARDED, type Claim, type ClaimField, type ForwardingHeader, type PlannedRequest, type Target } from './plan.js';
import {
  currentOptions, formatOptions, formatValue, recommendedOptions, serveCommand, serveFlags,
  type CountOptions, type CurrentOptions, type Family, type ProxyAddresses, type RecommendedOptions,
} from './recommend.js';
import type { Exchange, Outcome } from './run.js';
import { closestSample, proxyNamed, type Shape } from './samples.js';

/**
 * How bad a finding is. `note` is advice that changes no exit status; `wrong` is not exploitable
 * through the options in force; `spoofable` is; `unreachable` means the check could not finish.
 */
export type Severity = 'ok' | 'note' | 'wrong' | 'spoofable' | 'unreachable';

export type FindingId =
  | 'probe-unreachable' | 'token-refused' | 'not-a-probe' | 'incomplete' | 'no-trace'
  | 'header-set' | 'appends' | 'keeps-client-value' | 'passes-through' | 'forwarded-passes-through' | 'removed'
  | 'aliases-pass-through' | 'aliases-removed' | 'connection-strips' | 'connection-ignored'
  | 'second-line-passes' | 'repeated-lines-handled' | 'spoofable'
  | 'options-fit' | 'wrong-family' | 'count-too-high' | 'count-too-low' | 'peer-untrusted' | 'proxy-untrusted' | 'consider-trusted'
  | 'reachable-directly' | 'spoofable-directly' | 'not-reachable-directly' | 'direct-not-probe';

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** One plain-language sentence. */
  message: string;
  /** The header it is about, as the check names it (`X-Forwarded-For`). */
  header?: string;
  /** The option it is about (`xFor`). */
  option?: string;
  /** The env field it is about (`remoteAddr`). */
  field?: ClaimField;
}

/** What the first proxy does with a client's value of a header. */
export type ClientValue =
  /** A proxy sets the header and the client's value is gone. */
  | 'replaced'
  /** The proxies append after the client's value. */
  | 'appended'
  /** A proxy keeps the client's value instead of writing its own. */
  | 'kept'
  /** No proxy sets it and the client's value reaches the app. */
  | 'passes'
  /** No proxy sets it and the client's value is removed. */
  | 'removed'
  /** The proxies refuse a request that carries it. */
  | 'refused'
  /** The forged request got no answer. */
  | 'untested';

export interface HeaderReport {
  header: string;
  /** How many proxies set it: its values in the plain request. */
  setBy: number;
  client: ClientValue;
}

export interface Recommendation {
  options: RecommendedOptions;
  /** `proxyFix(app, { … })`. */
  code: string;
  /** `proxyfix serve` flags, one argument each. */
  flags: string[];
  /** The same as a shell command line: `proxyfix serve --x-for 1 --x-proto 1`. */
  command: string;
  sample: { file: string; shape: Shape; others: string[] };
}

export interface Analysis {
  status: 0 | 1 | 2 | 3;
  verdict: string;
  findings: Finding[];
  headers: HeaderReport[];
  /** The options in force as far as the answers tell them (in JSON a count of Infinity is `null`); `null` when they do not. */
  current: (CurrentOptions & { code: string }) | null;
  /** `null` when the probe could not be reached. */
  recommended: Recommendation | null;
  /** The chain the plain request went through; `null` when the probe could not be reached. */
  chain: Chain | null;
}

/** The fields compared for a change a client caused (remotePort differs per connection anyway). */
const VIEW: readonly (keyof ProbeFields)[] = ['remoteAddr', 'scheme', 'host', 'serverName', 'serverPort', 'scriptName'];

const FIELD_WORDS: Record<ClaimField, string> = {
  remoteAddr: 'client address', scheme: 'scheme', serverName: 'host', serverPort: 'port', scriptName: 'path prefix',
};

/** A header's values, left to right: Forwarded's elements, or a list's items; none when blank. */
export function valuesOf(key: string, header: string | undefined): string[] {
  if (isBlank(header)) return [];
  const values: string[] = [];
  if (key === FORWARDED.key) {
    const elements = new ForwardedFromRight(header!);
    for (let element = elements.next(); element !== undefined; element = elements.next()) values.unshift(element.text);
  } else {
    const list = new ListFromRight(header!);
    for (let value = list.next(); value !== undefined; value = list.next()) values.unshift(value);
  }
  return values;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function names(list: readonly string[]): string {
  return list.length <= 1 ? list.join('') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

function shownCount(count: number): string {
  return count === Infinity ? 'Infinity' : String(count);
}

/** Answers by request, for one target. */
class Answers {
  readonly #exchanges: Exchange[];

  constructor(exchanges: readonly Exchange[], target: Target) {
    this.#exchanges = exchanges.filter((e) => e.request.target === target);
  }

  get all(): Exchange[] {
    return this.#exchanges;
  }

  exchange(id: PlannedRequest['id']): Exchange | undefined {
    return this.#exchanges.find((e) => e.request.id === id);
  }

  answer(id: PlannedRequest['id']): ProbeAnswer | undefined {
    const outcome = this.exchange(id)?.outcome;
    return outcome?.kind === 'answer' ? outcome.answer : undefined;
  }
}

/** Whether a client's value of `header` got into `answer`, judged against the plain answer. */
function clientGotIn(key: string, request: PlannedRequest, answer: ProbeAnswer, plain: ProbeAnswer): boolean {
  const got = valuesOf(key, answer.headers[key]);
  const base = valuesOf(key, plain.headers[key]);
  const sent = sentValues(request, key);
  return got.length > base.length || got.some((value) => sent.includes(value) && !base.includes(value));
}

/** What became of a client's value of `header`, from the request that forged it alone. */
function headerReport(header: ForwardingHeader, answers: Answers, plain: ProbeAnswer): HeaderReport {
  const setBy = valuesOf(header.key, plain.headers[header.key]).length;
  const exchange = answers.exchange(header.key as PlannedRequest['id'])!;
  const { outcome } = exchange;
  let client: ClientValue;
  if (outcome.kind === 'other') {
    client = 'refused';
  } else if (outcome.kind !== 'answer') {
    client = 'untested';
  } else if (!clientGotIn(header.key, exchange.request, outcome.answer, plain)) {
    client = setBy > 0 ? 'replaced' : 'removed';
  } else if (setBy === 0) {
    client = 'passes';
  } else {
    client = valuesOf(header.key, outcome.answer.headers[header.key]).length > setBy ? 'appended' : 'kept';
  }
  return { header: header.name, setBy, client };
}

function headerFindings(reports: readonly HeaderReport[], plain: ProbeAnswer, family: Family): Finding[] {
  const findings: Finding[] = [];
  const gone: string[] = [];
  for (const report of reports) {
    const { header, setBy } = report;
    const setters = `set by ${plural(setBy, 'proxy', 'proxies')}`;
    const shown = JSON.stringify(plain.headers[header.toLowerCase()] ?? '');
    switch (report.client) {
      case 'replaced':
      case 'refused':
      case 'untested':
        findings.push({ id: 'header-set', severity: 'ok', header, message: `${header}: ${setters}, ${shown} in a plain request; ` +
          (report.client === 'replaced' ? 'the first replaces whatever a client sends.'
            : report.client === 'refused' ? 'a request that forges it is refused.' : 'what becomes of a client\'s is unknown (no answer).') });
        break;
      case 'appended':
        findings.push({ id: 'appends', severity: 'wrong', header, message: `${header}: ${setters}, ${setBy === 1 ? 'which appends' : 'the first of ' +
          'them appending'} to what a client sent, so a client's values reach the app (on the left, where the right count skips them); ` +
          'the first proxy should replace it.' });
        break;
      case 'kept':
        findings.push({ id: 'keeps-client-value', severity: 'wrong', header, message: `${header}: a proxy sets it, but keeps a client's ` +
          'value in its place, so its value cannot be told from a client\'s; make the first proxy replace it.' });
        break;
      case 'passes':
        findings.push(header === FORWARDED.name && family === 'x-forwarded' && reports.some((r) => r.header !== header && r.setBy > 0)
          ? { id: 'forwarded-passes-through', severity: 'wrong', header, message: 'Forwarded: no proxy sets it, and a client\'s reaches ' +
              'the app next to the proxies\' X-Forwarded-*; proxyFix ignores it, but other code may not: remove it at the proxy.' }
          : { id: 'passes-through', severity: 'wrong', header, message: `${header}: no proxy sets it, and a client's reaches the app; ` +
              'remove it at the proxy.' });
        break;
      case 'removed':
        gone.push(header);
        break;
    }
  }
  if (gone.length > 0) {
    findings.push({ id: 'removed', severity: 'ok', message: `A client's ${names(gone)} ${gone.length === 1 ? 'is' : 'are'} removed on the way.` });
  }
  return findings;
}

function aliasFinding(answers: Answers): Finding | undefined {
  const exchange = answers.exchange('aliases')!;
  if (exchange.outcome.kind !== 'answer') return undefined;
  const { answer } = exchange.outcome;
  const passed = exchange.request.headers
    .filter(([name, value]) => valuesOf(name.toLowerCase(), answer.headers[name.toLowerCase()]).includes(value))
    .map(([name]) => name);
  return passed.length > 0
    ? { id: 'aliases-pass-through', severity: 'wrong', header: passed[0]!, message: `A client's ${names(passed)} ` +
        `${passed.length === 1 ? 'reaches' : 'reach'} the app: CGI-style code reads underscores as hyphens (X-Forwarded-For); remove them at the proxy.` }
    : { id: 'aliases-removed', severity: 'ok', message: 'The underscore spellings (X_Forwarded_For and the like) are removed on the way.' };
}

function connectionFinding(answers: Answers, plain: ProbeAnswer): Finding | undefined {
  const answer = answers.answer('connection');
  if (answer === undefined) return undefined;
  const lost = FORWARDING.filter((header) =>
    valuesOf(header.key, answer.headers[header.key]).length < valuesOf(header.key, plain.headers[header.key]).length).map((h) => h.name);
  if (lost.length === 0) {
    return { id: 'connection-ignored', severity: 'ok', message: 'Naming the proxies\' headers in Connection changes nothing the app gets.' };
  }
  const changed = VIEW.filter((field) => answer.after[field] !== plain.after[field]);
  const effect = changed.length > 0
    ? `the app then sees ${names(changed.map((field) => `${field} ${JSON.stringify(answer.after[field])}`))}, not ` +
      `${names(changed.map((field) => JSON.stringify(plain.after[field])))}`
    : 'the options in force do not read what is lost, but other code may';
  return {
    id: 'connection-strips', severity: changed.length > 0 ? 'spoofable' : 'wrong', header: lost[0]!,
    message: `A client that names ${names(lost)} in Connection makes a proxy drop ${lost.length === 1 ? 'it' : 'them'} ` +
      `(Traefik CVE-2024-45410): ${effect}.`,
  };
}

function repeatedFinding(answers: Answers, plain: ProbeAnswer, reports: readonly HeaderReport[]): Finding | undefined {
  const exchange = answers.exchange('repeated')!;
  if (exchange.outcome.kind !== 'answer') return undefined;
  const { answer } = exchange.outcome;
  const passed = FORWARDING.filter((header) => sentValues(exchange.request, header.key).length > 0
    && clientGotIn(header.key, exchange.request, answer, plain)
    && ['replaced', 'removed'].includes(reports.find((report) => report.header === header.name)!.client)).map((h) => h.name);
  return passed.length > 0
    ? { id: 'second-line-passes', severity: 'wrong', header: passed[0]!, message: `A client's ${names(passed)} sent on two lines ` +
        `${passed.length === 1 ? 'reaches' : 'reach'} the app, though a single line is removed: a proxy handles only one of the lines.` }
    : { id: 'repeated-lines-handled', severity: 'ok', message: 'Forwarding headers sent on two lines are handled like single ones.' };
}

/**
 * Forged values that became a field of the app's view, by field. A request that forges the same
 * value in two headers (the scheme, in the request that forges everything) cannot say which one was
 * believed; it is counted only when no request said so unambiguously.
 */
function takenClaims(answers: Answers, baseline: ProbeAnswer): Map<ClaimField, Claim[]> {
  const sure = new Map<ClaimField, Claim[]>();
  const unsure = new Map<ClaimField, Claim[]>();
  for (const { request, outcome } of answers.all) {
    if (outcome.kind !== 'answer') continue;
    for (const claim of request.claims) {
      if (outcome.answer.after[claim.field] !== claim.value || baseline.after[claim.field] === claim.value) continue;
      const twins = request.claims.filter((other) => other.field === claim.field && other.value === claim.value).length;
      const into = twins > 1 ? unsure : sure;
      const list = into.get(claim.field) ?? [];
      if (!list.some((known) => known.header === claim.header)) list.push(claim);
      into.set(claim.field, list);
    }
  }
  for (const [field, claims] of unsure) if (!sure.has(field)) sure.set(field, claims);
  return sure;
}

function spoofFindings(taken: Map<ClaimField, Claim[]>, direct: string | undefined): Finding[] {
  return [...taken].map(([field, claims]): Finding => {
    const how = names(claims.map((claim) => `${claim.header} (${claim.value})`));
    return direct === undefined
      ? { id: 'spoofable', severity: 'spoofable', field, header: claims[0]!.header,
          message: `A client chooses the app's ${FIELD_WORDS[field]}: ${how} sent by the check became its ${field}.` }
      : { id: 'spoofable-directly', severity: 'spoofable', field, header: claims[0]!.header,
          message: `A client that reaches the app at ${direct} chooses its ${FIELD_WORDS[field]}: ${how} became its ${field}.` };
  });
}

/** The counts the chain calls for, and the family. */
function chainCounts(reports: readonly HeaderReport[], current: CurrentOptions | undefined): { family: Family; counts: Required<CountOptions> } {
  const count = (header: ForwardingHeader) => {
    const report = reports.find((r) => r.header === header.name)!;
    return report.client === 'kept' ? 0 : report.setBy;
  };
  // Prefix aside: both families may carry X-Forwarded-Prefix.
  const xForwarded = X_FORWARDED.slice(0, 4).some((header) => count(header) > 0);
  const forwarded = count(FORWARDED) > 0;
  const family: Family = forwarded && !xForwarded ? 'forwarded' : xForwarded && !forwarded ? 'x-forwarded' : current?.family ?? 'x-forwarded';
  const counts = { xFor: 0, xProto: 0, xHost: 0, xPort: 0, xPrefix: count(X_FORWARDED[4]!), forwarded: 0 };
  if (family === 'forwarded') {
    counts.forwarded = count(FORWARDED);
  } else {
    for (const header of X_FORWARDED.slice(0, 4)) counts[header.option as keyof CountOptions] = count(header);
  }
  return { family, counts };
}

/** The addresses of the proxies: the peer, and the for-values the proxies in front of it wrote. */
function proxyAddresses(plain: ProbeAnswer, family: Family, proxies: number): ProxyAddresses {
  const header = family === 'forwarded' ? FORWARDED : X_FORWARDED[0]!;
  const values = valuesOf(header.key, plain.headers[header.key]);
  // The value at depth d names the hop left of proxy d: depths 1 .. proxies - 1 are proxies.
  const named = values.slice(values.length - proxies + 1).map((value) =>
    family === 'forwarded' ? new ForwardedFromRight(value).next()!.params?.for ?? '' : value);
  return { peer: plain.before.remoteAddr, named };
}

const FAMILY_NAMES: Record<Family, string> = { 'x-forwarded': 'X-Forwarded-*', forwarded: 'Forwarded' };

function optionFindings(current: CurrentOptions, family: Family, counts: Required<CountOptions>,
  reports: readonly HeaderReport[], plain: ProbeAnswer, suggested: RecommendedOptions): Finding[] {
  const findings: Finding[] = [];
  if (current.family !== family) {
    findings.push({ id: 'wrong-family', severity: 'wrong', message: `The proxies set ${FAMILY_NAMES[family]}, but proxyFix reads ` +
      `${FAMILY_NAMES[current.family]}: use the options recommended below.` });
  }
  const options = (current.family !== family ? [] : family === 'forwarded' ? ['forwarded'] : ['xFor', 'xProto', 'xHost', 'xPort'])
    .concat('xPrefix') as (keyof CountOptions)[];
  const walked = family === 'forwarded' ? 'forwarded' : 'xFor';
  for (const option of options) {
    const header = FORWARDING.find((h) => h.option === option)!;
    const report = reports.find((r) => r.header === header.name)!;
    const have = current.counts[option];
    const want = counts[option];
    // With a trust list, a count is a bound: walking further stops at the first untrusted address anyway.
    if (have === want || (current.trusted && option === walked && have > want && want > 0)) continue;
    const set = `set it to ${want}`;
    if (have > want) {
      const effect = report.client === 'kept' ? `a proxy keeps a client's ${header.name} in place of its own, so the app would believe a client`
        : want === 0 ? (report.client === 'passes' ? `no proxy sets ${header.name} and a client's passes through` : `no proxy sets ${header.name}, so it is never used`)
          : ['appended', 'passes'].includes(report.client) ? `${plural(want, 'proxy sets', 'proxies set')} ${header.name}, so the app reads a value a client wrote`
            : `${plural(want, 'proxy sets', 'proxies set')} ${header.name}, so the app finds too few values and ignores it`;
      findings.push({ id: 'count-too-high', severity: 'wrong', option, header: header.name,
        message: `${option} is ${shownCount(have)}, but ${effect}; ${set}.` });
    } else {
      const values = valuesOf(header.key, plain.headers[header.key]);
      const effect = have === 0
        ? `the app ignores it and keeps ${JSON.stringify(plain.after[header.field])}`
        : `the app takes the value proxy ${have} wrote (${JSON.stringify(values[values.length - have])}), not the one the proxy nearest the client wrote`;
      findings.push({ id: 'count-too-low', severity: 'wrong', option, header: header.name,
        message: `${option} is ${have}, but ${plural(want, 'proxy sets', 'proxies set')} ${header.name}: ${effect}; ${set}.` });
    }
  }
  const trace = plain.trace;
  const header = family === 'forwarded' ? FORWARDED : X_FORWARDED[0]!;
  if (current.trusted && trace !== null) {
    if (trace.peerTrusted === false) {
      findings.push({ id: 'peer-untrusted', severity: 'wrong', message: `The app's peer ${trace.peer || '(a Unix socket)'}, the proxy nearest ` +
        `the app, is not trusted, so the app believes no forwarded header: ${trace.peer === '' ? 'add trustUnixSocket: true' : 'add it to trusted'}.` });
    }
    for (const hop of trace.walk ?? []) {
      if (hop.trusted || hop.depth >= counts[walked]) continue;
      findings.push({ id: 'proxy-untrusted', severity: 'wrong', header: header.name, message: `${hop.value}, a proxy named in ` +
        `${header.name}, is not in trusted: the walk stops there and the app takes it for the client; add it.` });
    }
  } else if (!current.trusted && counts[walked] >= 2) {
    findings.push({ id: 'consider-trusted', severity: 'note', header: header.name, message: `${counts[walked]} proxies append to ` +
      `${header.name}: with trusted: ${formatValue(suggested.trusted)} the app would check their addresses as well ` +
      'as count them, so a client that reaches an inner proxy directly gets nowhere.' });
  }
  if (findings.every((finding) => finding.severity === 'note')) {
    findings.unshift({ id: 'options-fit', severity: 'ok', message: `The options in force fit the chain.` });
  }
  return findings;
}

function unreachable(outcome: Outcome, url: string): Finding {
  switch (outcome.kind) {
    case 'failed':
      return { id: 'probe-unreachable', severity: 'unreachable', message: `No answer from ${url}: ${outcome.error}.` };
    case 'other':
      if (outcome.status === 404) {
        return { id: 'token-refused', severity: 'unreachable', message: `${url} answered 404: the token is wrong, or no probe listens ` +
          'at that path (proxyfix serve --probe-token …).' };
      }
      return { id: 'not-a-probe', severity: 'unreachable', message: `${url} answered ${outcome.status}` +
        `${outcome.location === undefined ? '' : ` (to ${outcome.location})`}, not with a probe's answer.` };
    default:
      return { id: 'probe-unreachable', severity: 'unreachable', message: `No request was sent to ${url}: the check had no time or requests left.` };
  }
}

function directFindings(answers: Answers, url: string): Finding[] {
  const plain = answers.exchange('plain')!.outcome;
  if (plain.kind === 'failed') {
    return [{ id: 'not-reachable-directly', severity: 'ok', message: `The app does not answer at ${url} (${plain.error}): ` +
      'a client gets to it only through the proxies.' }];
  }
  if (plain.kind === 'other') {
    return [{ id: 'direct-not-probe', severity: 'note', message: `${url} answers ${plain.status}, not with the probe: the check cannot ` +
      'tell whether that is the app.' }];
  }
  if (plain.kind !== 'answer') return [];
  const spoofs = spoofFindings(takenClaims(answers, plain.answer), url);
  return [{ id: 'reachable-directly', severity: 'wrong', message: `The app answers at ${url}, without the proxies: ` +
    (spoofs.length > 0 ? 'a client there can forge what the proxies would write (below).'
      : 'the options in force believe nothing a client there sends, but it gets past whatever the proxies enforce.') }, ...spoofs];
}

function incompleteFinding(exchanges: readonly Exchange[]): Finding | undefined {
  const missing = exchanges.filter(({ request, outcome }) =>
    (outcome.kind === 'failed' && !(request.target === 'direct' && request.id === 'plain'))
    || (outcome.kind === 'not-sent' && outcome.why !== 'depends'));
  if (missing.length === 0) return undefined;
  const first = missing[0]!.outcome;
  const why = first.kind === 'failed' ? first.error : first.kind === 'not-sent' && first.why === 'time' ? 'out of time' : 'the request budget ran out';
  return { id: 'incomplete', severity: 'unreachable', message: `${plural(missing.length, 'planned request', 'planned requests')} ` +
    `got no answer (the first: ${missing[0]!.request.label}, ${why}), so the check is incomplete.` };
}

const RANK: Record<Severity, number> = { ok: 0, note: 0, wrong: 1, unreachable: 2, spoofable: 3 };
const STATUS: Record<Severity, Analysis['status']> = { ok: 0, note: 0, wrong: 2, unreachable: 3, spoofable: 1 };
const VERDICTS: Record<Analysis['status'], string> = {
  0: 'Safe: no forged value reached the app, and the options fit the chain.',
  1: 'Spoofable: a client can choose what the app sees.',
  2: 'Not spoofable through the options in force, but not right either.',
  3: 'The check could not finish, so it cannot say the deployment is safe.',
};

/** The exit status the findings add up to: spoofable 1, then unreachable 3, then wrong 2, else 0. */
export function statusOf(findings: readonly Finding[]): Analysis['status'] {
  const worst = findings.reduce<Severity>((worst, finding) => RANK[finding.severity] > RANK[worst] ? finding.severity : worst, 'ok');
  return STATUS[worst];
}

/** Everything the answers say, for a check of `url` (and `direct`). */
export function analyse(exchanges: readonly Exchange[], url: string, direct?: string): Analysis {
  const publicAnswers = new Answers(exchanges, 'public');
  const plainOutcome = publicAnswers.exchange('plain')!.outcome;
  if (plainOutcome.kind !== 'answer') {
    const findings = [unreachable(plainOutcome, url)];
    return { status: 3, verdict: VERDICTS[3], findings, headers: [], current: null, recommended: null, chain: null };
  }
  const plain = plainOutcome.answer;
  const current = currentOptions(plain);
  const findings: Finding[] = [];
  if (plain.trace === null) {
    findings.push({ id: 'no-trace', severity: 'wrong', message: 'The probe\'s answer has no decision trace: mount it inside proxyFix with ' +
      `trace: true. ${current === undefined ? 'The options in force are unknown.' : 'The options in force are taken from its `options`.'}` });
  }
  const reports = FORWARDING.map((header) => headerReport(header, publicAnswers, plain));
  const { family, counts } = chainCounts(reports, current);
  const walkedHeader = family === 'forwarded' ? FORWARDED : X_FORWARDED[0]!;
  const proxies = reports.find((report) => report.header === walkedHeader.name)!.setBy;
  const trust = proxyAddresses(plain, family, proxies);
  const options = recommendedOptions(family, counts, current?.trusted ? trust : undefined);

  findings.push(...headerFindings(reports, plain, current?.family ?? family));
  for (const finding of [aliasFinding(publicAnswers), connectionFinding(publicAnswers, plain), repeatedFinding(publicAnswers, plain, reports)]) {
    if (finding !== undefined) findings.push(finding);
  }
  findings.push(...spoofFindings(takenClaims(publicAnswers, plain), undefined));
  if (current !== undefined) {
    findings.push(...optionFindings(current, family, counts, reports, plain, recommendedOptions(family, counts, trust)));
  }
  if (direct !== undefined) findings.push(...directFindings(new Answers(exchanges, 'direct'), direct));
  const incomplete = incompleteFinding(exchanges);
  if (incomplete !== undefined) findings.push(incomplete);

  const status = statusOf(findings);
  const sample = closestSample({
    counts, proxy: proxyNamed(plainOutcome.server), https: url.startsWith('https:'), unixSocket: plain.before.remoteAddr === '', proxies,
    mounted: new URL(url).pathname !== `${plain.before.scriptName}${plain.before.pathInfo}`,
  });
  return {
    status,
    verdict: VERDICTS[status],
    findings,
    headers: reports,
    current: current === undefined ? null : { ...current, code: currentCode(current) },
    recommended: { options, code: `proxyFix(app, ${formatOptions(options)})`, flags: serveFlags(options), command: serveCommand(serveFlags(options)), sample },
    chain: chainOf(plain),
  };
}

/** The options in force as code: the counts that are not 0, in the samples' order, and whether there is a trust list. */
function currentCode(current: CurrentOptions): string {
  const shown = Object.entries(current.counts).filter(([, count]) => count !== 0).map(([option, count]) => `${option}: ${shownCount(count)}`);
  if (current.trusted) shown.push('trusted: [...]');
  return `{ ${shown.join(', ')} }`;
}
