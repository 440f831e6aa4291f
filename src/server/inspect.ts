/**
 * The inspection app: answers every request with what the request looks like before and after
 * proxyFix, the decision trace, and a verdict in plain words.
 *
 * A wrong hop count fails silently (the app just sees the proxy's address, or worse, the one a
 * client wrote), so the first thing to do after putting a proxy config in place is to send a
 * request through the chain and look. Wrap it in the proxyFix under test with `trace: true`:
 *
 *     serve(proxyFix(inspectApp(), { xFor: 2, xProto: 1, trace: true }))
 *
 * It echoes the request back to whoever sent it, and the answer gets pasted into tickets and chats:
 * credentials in headers, parameters, URLs and the Host are redacted by rule (../redact.ts)
 * before anything is shown, and the answer says what was hidden, by name.
 */
import { TRACE, type FieldTrace, type ProxyFixTrace } from '../trace.js';
import { checkOptions } from '../options.js';
import { chainOf } from '../chain.js';
import { chainSvg } from '../chain-svg.js';
import { type GatewayApp, type GatewayEnv, type GatewayResponse, ORIGINALS, REQUEST_FIELDS, requestUrl, type RequestField } from '../gateway.js';
import { compileRedaction, type Redacted, type Redaction, Redactor } from '../redact.js';
import { PROXY_PROTOCOL, type ProxyProtocolRecord } from './proxy-protocol.js';

export interface InspectOptions {
  /**
   * More header and parameter names whose values are shown as `(redacted)`, on top of the rules
   * (credential names such as `authorization`, `cookie`, `x-api-key`, or any name with `token`,
   * `secret`, `password`, `session`, `key` in it). Compared by their words: `X_Api_Key` is `x-api-key`.
   * @default []
   */
  redact?: readonly string[];
  /**
   * Header and parameter names to show as sent although a rule would hide them, compared the same way.
   * @default []
   */
  reveal?: readonly string[];
}

/** The env fields shown before and after fixing, plus the URL they add up to. */
export type InspectedFields = Pick<GatewayEnv, RequestField> & {
  /** The URL an app builds from these fields: what its links and redirects point to. */
  url: string;
};

/** The JSON answer. */
export interface Inspection {
  /** Plain-language sentences; the first says which client address was used and why. */
  verdict: string[];
  before: InspectedFields;
  after: InspectedFields;
  /** The fields proxyFix replaced. */
  changed: (keyof InspectedFields)[];
  /** The decision trace; `null` when no proxyFix with `trace: true` is in front. */
  trace: ProxyFixTrace | null;
  request: { method: string; headers: Record<string, string> };
  /**
   * The connection's PROXY protocol header and its real socket peer (the load balancer), when
   * `serve` read one (`proxyProtocol`); else `null`. `before.remoteAddr` is then the header's client.
   */
  proxyProtocol: ProxyProtocolRecord | null;
  /** What was shown as `(redacted)` anywhere above, by name: never a value. */
  redacted: Redacted;
}


const KNOWN_OPTIONS = new Set(['redact', 'reveal']);

/**
 * A gateway app that describes each request it gets, as JSON, or as an HTML page for a client
 * that prefers `text/html` (a browser).
 *
 * @example
 * await serve(proxyFix(inspectApp(), { xFor: 1, xProto: 1, trace: true }), { bind: '127.0.0.1:8000' });
 * // curl http://127.0.0.1:8000/ -H 'X-Forwarded-For: 203.0.113.7'
 */
export function inspectApp(options: InspectOptions = {}): GatewayApp {
  checkOptions(options, KNOWN_OPTIONS, 'inspectApp');
  const redaction = compileRedaction(options);

  return function inspect(env: GatewayEnv): GatewayResponse {
    const inspection = inspectEnv(env, redaction);
    const common = { 'Cache-Control': 'no-store', Vary: 'Accept', 'X-Content-Type-Options': 'nosniff' };
    if (prefersHtml(env.headers.accept)) {
      return {
        status: 200,
        headers: {
          ...common,
          'Content-Type': 'text/html; charset=utf-8',
          // Everything is escaped already; this is the second line of defence for an echo page.
          'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
        },
        body: renderHtml(inspection),
      };
    }
    return {
      status: 200,
      headers: { ...common, 'Content-Type': 'application/json; charset=utf-8' },
      body: `${JSON.stringify(inspection, null, 2)}\n`,
    };
  };
}

/**
 * Describe `env` as the inspection app does, with `redaction`'s rules applied to everything shown.
 * What changed is decided on the values as they are; only what is shown is redacted.
 */
export function inspectEnv(env: GatewayEnv, redaction: Redaction = compileRedaction({})): Inspection {
  const redactor = new Redactor(redaction);
  const originals = env.ext[ORIGINALS] ?? {};
  const beforeAsIs = { ...env, ...originals };
  const changed = ([...REQUEST_FIELDS, 'url'] as const).filter((key) =>
    key === 'url' ? requestUrl(beforeAsIs) !== requestUrl(env) : beforeAsIs[key] !== env[key]);
  const before = fieldsOf(redactor, beforeAsIs);
  const after = fieldsOf(redactor, env);
  const recorded = env.ext[TRACE];
  const trace = recorded === undefined ? null : redactor.trace(recorded);
  const headers = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(env.headers)) headers[name] = redactor.header(name, value);
  const proxyProtocol = env.ext[PROXY_PROTOCOL] ?? null;
  const sentences = verdict(env, trace, after);
  if (proxyProtocol !== null) sentences.unshift(proxyProtocolSentence(proxyProtocol));
  return {
    verdict: sentences,
    before,
    after,
    changed,
    trace,
    request: { method: env.method, headers },
    proxyProtocol,
    redacted: redactor.redacted,
  };
}

/** The fields as shown, and the URL they make as shown. */
function fieldsOf(redactor: Redactor, env: Pick<GatewayEnv, RequestField>): InspectedFields {
  const fields = {} as Omit<InspectedFields, 'url'>;
  for (const field of REQUEST_FIELDS) fields[field] = env[field];
  const shown = redactor.fields(fields);
  return { ...shown, url: requestUrl(shown) };
}

/** An address for a sentence; a Unix socket peer has none. */
function shown(address: string): string {
  return address || 'none (a Unix socket peer)';
}

/** What the connection's PROXY protocol header did to the client address, first in the verdict. */
function proxyProtocolSentence({ socketPeer, client, header }: ProxyProtocolRecord): string {
  const from = `The connection came from ${shown(socketPeer.address)}, whose PROXY protocol v${header.version} header`;
  if (header.command === 'LOCAL') return `${from} says LOCAL (the balancer's own connection, a health check): the client address is the socket peer.`;
  if (header.family === 'unspec') return `${from} names no client (family unknown): the client address is the socket peer.`;
  return `${from} names the client ${header.family === 'unix' ? 'as a Unix socket peer of the balancer (no address)' : client.address}: ` +
    'proxyFix starts from it.';
}

/** The header's fields as rows for the page, TLVs flattened (`tlvs.ssl.version`). */
function recordRows(value: unknown, path: string): [string, string][] {
  if (typeof value !== 'object' || value === null) return [[path, String(value)]];
  return Object.entries(value).flatMap(([key, inner]) => recordRows(inner, path === '' ? key : `${path}.${key}`));
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How many comma-separated values a header has; 0 when it is absent or blank. */
function valueCount(header: string | undefined): number {
  return header === undefined || header.trim() === '' ? 0 : header.split(',').length;
}

function verdict(env: GatewayEnv, trace: ProxyFixTrace | null, after: InspectedFields): string[] {
  if (trace === null) {
    return [
      `No decision trace: nothing says what proxyFix decided. Serve this app as ` +
      `proxyFix(inspectApp(), { ...yourOptions, trace: true }), or with \`proxyfix serve --inspect\`. ` +
      `The client address the app sees is ${shown(after.remoteAddr)}.`,
    ];
  }
  const sentences: string[] = [];
  if (trace.peerTrusted === false) {
    sentences.push(`The peer ${shown(trace.peer)} is not in your trusted list, so no forwarded header was believed.`);
  }
  for (const field of trace.fields) {
    let sentence: string | undefined;
    if (field.outcome === 'family-not-chosen') {
      sentence = `${field.header}: ${field.detail}.`;
    } else if (field.field === 'for') {
      sentence = clientSentence(env, field, after.remoteAddr);
    } else if (field.outcome !== 'untrusted' || trace.peerTrusted !== false) {
      // (An untrusted peer is said once, above, not again for every field.)
      sentence = fieldSentence(env, field);
    }
    if (sentence !== undefined) sentences.push(sentence);
  }
  return sentences;
}

/** The sentence about the client address: always present, and first. */
function clientSentence(env: GatewayEnv, field: FieldTrace, address: string): string {
  const seen = valueCount(env.headers[field.header]);
  const proxies = `${plural(seen, 'proxy', 'proxies')} seen in ${field.header}; your ${field.option} is ${field.count}`;
  switch (field.outcome) {
    case 'used': {
      let sentence = `${proxies}, the client address used is ${address} (value ${field.depth} from the right).`;
      // With a trust list the walk may stop short of the count: what lies left of the value used is ignored.
      const left = seen - field.depth!;
      if (left > 0) {
        sentence += ` ${left === 1 ? 'The value to its left was' : `The ${left} values to its left were`} ignored: ` +
          'a client can write those.';
      }
      if (field.count < seen) {
        sentence += ` Only if ${seen} proxies of yours append to ${field.header} should ${field.option} be ${seen}.`;
      }
      return sentence;
    }
    case 'absent':
      return `No proxy seen: there is no ${field.header} header, so the client address used is the socket peer, ${shown(address)}.`;
    case 'disabled':
      return `${field.option} is 0, so ${field.header} is not read and the client address used is the socket peer, ${shown(address)}.`;
    default:
      return `${proxies}, but ${field.detail}; the client address used is the socket peer, ${shown(address)}.`;
  }
}

/** A sentence about scheme, host, port or prefix; none when the header is absent and not asked for. */
function fieldSentence(env: GatewayEnv, field: FieldTrace): string | undefined {
  const present = valueCount(env.headers[field.header]) > 0;
  if (field.outcome === 'disabled') {
    return present
      ? `${field.header} is present but ${field.option} is 0, so it is ignored; if a proxy of yours sets it, set ${field.option} to 1.`
      : undefined;
  }
  if (field.outcome === 'absent') return undefined;
  return `${field.header}: ${field.detail} (${field.option} is ${field.count}).`;
}

/**
 * Whether `accept` ranks `text/html` above `application/json`. A browser's Accept does; curl's
 * `*\/*` ranks both the same, and then JSON wins.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const quality = (type: string) => {
    let best = -1;
    let bestSpecificity = -1;
    for (const range of accept.split(',')) {
      const [media = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
      const specificity = media === type ? 2 : media === `${type.split('/')[0]}/*` ? 1 : media === '*/*' ? 0 : -1;
      if (specificity <= bestSpecificity) continue;
      const q = params.find((param) => param.startsWith('q='));
      bestSpecificity = specificity;
      best = q === undefined ? 1 : Number(q.slice(2)) || 0;
    }
    return best;
  };
  return quality('text/html') > Math.max(0, quality('application/json'));
}

/** Text for HTML: every character that could end a text node or an attribute is escaped. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function row(cells: unknown[], tag = 'td', className = ''): string {
  const open = className ? `<tr class="${className}">` : '<tr>';
  return `${open}${cells.map((cell) => `<${tag}>${escapeHtml(cell)}</${tag}>`).join('')}</tr>`;
}

function renderHtml(inspection: Inspection): string {
  const { verdict: sentences, before, after, changed, trace, request, proxyProtocol, redacted } = inspection;
  const fields = (Object.keys(after) as (keyof InspectedFields)[]).map((key) =>
    row([key, before[key], after[key]], 'td', changed.includes(key) ? 'changed' : ''));
  const traceRows = (trace?.fields ?? []).map((f) =>
    row([f.header, `${f.option} ${f.count}`, f.depth ?? '', f.value ?? '', f.outcome, f.detail]));
  const headerRows = Object.entries(request.headers).map(([name, value]) => row([name, value]));
  const redactedRows = (Object.keys(redacted) as (keyof Redacted)[]).map((what) => row([what, redacted[what].join(', ') || 'none']));
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>proxyfix: what this request looks like</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; font-family: ui-monospace, monospace; }
tr.changed td { background: #fff3c4; }
svg.chain { display: block; max-width: 100%; height: auto; margin-bottom: 1.5rem; }
</style>
<h1>What this request looks like</h1>
<h2>Verdict</h2>
<ul>
${sentences.map((sentence) => `<li>${escapeHtml(sentence)}</li>`).join('\n')}
</ul>
<h2>The chain</h2>
${chainSvg(chainOf({ before, after, trace, headers: request.headers }))}
<h2>Before and after proxyFix</h2>
<table>
${row(['field', 'before', 'after'], 'th')}
${fields.join('\n')}
</table>
<h2>Decision trace</h2>
<table>
${row(['header', 'option', 'depth', 'value', 'outcome', 'detail'], 'th')}
${traceRows.join('\n')}
</table>
${proxyProtocol === null ? '' : `<h2>PROXY protocol</h2>
<table>
${row(['field', 'value'], 'th')}
${recordRows(proxyProtocol, '').map((cells) => row(cells)).join('\n')}
</table>
`}<h2>Request headers (${escapeHtml(request.method)})</h2>
<table>
${row(['name', 'value'], 'th')}
${headerRows.join('\n')}
</table>
<h2>Redacted</h2>
<table>
${row(['what', 'names'], 'th')}
${redactedRows.join('\n')}
</table>
</html>
`;
}
