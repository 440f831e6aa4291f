/**
 * The check's report as a terminal reads it (one line per finding), as JSON (`--json`), and as a
 * standalone HTML page (`--html FILE`) with the chain drawn.
 *
 * The report quotes what a server answered (header values, addresses, a redirect's target), and
 * the server is whatever the URL pointed at. So the text never carries a control character (an
 * escape sequence in a terminal can rewrite what was printed before it), the JSON escapes the
 * ones JSON.stringify leaves, and the page escapes everything and runs under a policy that allows
 * nothing but its own style sheet.
 */
import { createHash } from 'node:crypto';
import { chainSvg, escapeXml } from '../chain-svg.js';
import type { Chain } from '../chain.js';
import type { Analysis, Finding, HeaderReport, Severity } from './analyse.js';
import type { Progress } from './run.js';

/** What `proxyfix check` found: the JSON of `--json`. */
export interface CheckReport {
  /** The probe URL checked (the default probe path added where the URL ended in `/`). */
  url: string;
  direct: string | null;
  /** The exit status: 0 safe and right, 1 spoofable, 2 wrong but not exploitable, 3 the check could not finish. */
  status: Analysis['status'];
  verdict: string;
  findings: Finding[];
  /** What becomes of a client's value of each forwarding header, and how many proxies set it. */
  headers: HeaderReport[];
  current: Analysis['current'];
  recommended: Analysis['recommended'];
  chain: Chain | null;
  requests: { planned: number; sent: number; answered: number; elapsedMs: number };
}

/** C0 and C1 control characters and DEL: what a terminal may act on. */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

function escaped(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Text safe to print: every control character shown as `\uXXXX`. */
export function printable(text: string): string {
  return text.replace(CONTROLS, escaped);
}

const LABELS: Record<Severity, string> = { ok: 'ok', note: 'note', wrong: 'wrong', spoofable: 'SPOOFABLE', unreachable: 'UNREACHABLE' };

/** The report for a terminal: the findings one per line, then what to use, then the verdict. */
export function reportText(report: CheckReport): string {
  const lines = [`proxyfix check ${report.url}${report.direct === null ? '' : ` (direct: ${report.direct})`}`];
  for (const finding of report.findings) lines.push(`  ${LABELS[finding.severity].padEnd(12)}${finding.message}`);
  lines.push('');
  if (report.current !== null) lines.push(`In force:       ${report.current.code}`);
  if (report.recommended !== null) {
    const { code, command, sample } = report.recommended;
    lines.push(`Recommended:    ${code}`, `                ${command}`);
    lines.push(`Closest sample: ${sample.file}${sample.others.length > 0 ? ` (or ${sample.others.join(', ')})` : ''}`);
    lines.push('');
  }
  lines.push(`${report.verdict} Exit status ${report.status}.`);
  return `${lines.map(printable).join('\n')}\n`;
}

/** The report as JSON, with the control characters JSON.stringify leaves (DEL and C1) escaped too. */
export function reportJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2).replace(/[\u007f-\u009f]/g, escaped)}\n`;
}

/** One line of progress, for stderr. */
export function progressLine(progress: Progress): string {
  const { done, total, request, outcome } = progress;
  const result = outcome.kind === 'answer' || outcome.kind === 'other' ? String(outcome.status)
    : outcome.kind === 'failed' ? `no answer: ${outcome.error}` : 'not sent';
  return printable(`[${done}/${total}] ${request.target === 'direct' ? 'direct, ' : ''}${request.label}: ${result}`);
}

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; overflow-wrap: anywhere; }
.verdict { font-weight: bold; padding: .5rem .75rem; border-left: 6px solid; }
.status-0 { border-color: #2e7d32; background: #e8f5e9; }
.status-1 { border-color: #c62828; background: #ffebee; }
.status-2 { border-color: #8d6e00; background: #fff3c4; }
.status-3 { border-color: #555; background: #eee; }
ul.findings { list-style: none; padding: 0; }
ul.findings li { margin: .35rem 0; overflow-wrap: anywhere; }
.severity { display: inline-block; min-width: 7.5rem; font-weight: bold; font-family: ui-monospace, monospace; }
@media (max-width: 40rem) { .severity { display: block; min-width: 0; } }
.ok .severity, .note .severity { color: #2e7d32; }
.wrong .severity { color: #8d6e00; }
.spoofable .severity, .unreachable .severity { color: #c62828; }
pre { background: #f4f4f4; padding: .5rem .75rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
svg.chain { display: block; max-width: 100%; height: auto; margin-bottom: 1.5rem; }
`;

/** The page's policy: nothing but the style sheet above, named by its hash rather than allowed inline in general. */
const POLICY = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** A standalone page: the verdict, the findings, the chain drawn, the recommendation and the headers. */
export function reportHtml(report: CheckReport): string {
  const text = (value: string) => escapeXml(value);
  const findings = report.findings.map((finding) =>
    `<li class="${finding.severity}"><span class="severity">${LABELS[finding.severity]}</span> ${text(finding.message)}</li>`);
  const headers = report.headers.map((header) => `<tr><td>${text(header.header)}</td><td>${header.setBy}</td><td>${header.client}</td></tr>`);
  const recommended = report.recommended === null ? '' : `<h2>Recommended</h2>
<pre><code>${text(report.recommended.code)}</code></pre>
<pre><code>${text(report.recommended.command)}</code></pre>
<p>Closest shipped sample: <code>${text(report.recommended.sample.file)}</code>${report.recommended.sample.others.length > 0
    ? ` (or ${report.recommended.sample.others.map((file) => `<code>${text(file)}</code>`).join(', ')})` : ''}.
${report.current === null ? '' : `In force: <code>${text(report.current.code)}</code>.`}</p>`;
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>proxyfix check: ${text(report.url)}</title>
<style>${STYLE}</style>
<h1>proxyfix check of ${text(report.url)}</h1>
<p class="verdict status-${report.status}">${text(report.verdict)} Exit status ${report.status}.</p>
${report.direct === null ? '' : `<p>Also tried straight to the app at <code>${text(report.direct)}</code>.</p>`}
<h2>Findings</h2>
<ul class="findings">
${findings.join('\n')}
</ul>
${report.chain === null ? '' : `<h2>The chain</h2>\n${chainSvg(report.chain, { title: 'The proxy chain a plain request went through' })}`}
${recommended}
${report.headers.length === 0 ? '' : `<h2>Forwarding headers</h2>
<table>
<tr><th>header</th><th>set by proxies</th><th>a client's value</th></tr>
${headers.join('\n')}
</table>`}
<p>${report.requests.sent} of ${report.requests.planned} planned requests sent, in ${(report.requests.elapsedMs / 1000).toFixed(2)} s.</p>
</html>
`;
}
