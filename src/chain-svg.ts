/**
 * The chain as a picture: an inline SVG of client → proxies → app, drawn on the server.
 *
 * Every word in it comes from a request (addresses, header values, the trace's sentences quoting
 * them), and it is shown on an echo page and in reports, so it is built as an escaped string and
 * nothing else: no script, no event handler, no link, no external resource, no `style` attribute,
 * no `id` (two pictures on one page must not collide), so it works under the inspection page's
 * `default-src 'none'` policy. Trust is shown by shape and by words, never by colour alone.
 *
 * One column, top to bottom, 360 units wide: a phone shows it at about its natural size, a wide
 * screen at exactly it. The page should give it `max-width: 100%; height: auto` so that it shrinks
 * on screens narrower than 360 px.
 */
import type { Chain, ChainHop } from './chain.js';

export interface ChainSvgOptions {
  /**
   * The picture's accessible name.
   * @default 'The proxy chain, from the client to the app'
   */
  title?: string;
}

const WIDTH = 360;
const MARGIN = 8;
const BOX = WIDTH - 2 * MARGIN;
const INSET = 10;
const LINE = 17;
const ARROW = 24;
/** Characters of monospace text (12 px) that fit on one line inside a box. */
const MONO_CHARS = 44;
/** Characters of body text (12 px) per line of the stop note. */
const NOTE_CHARS = 50;
const NOTE_LINES = 6;

const FONT = 'system-ui, sans-serif';
const MONO = 'ui-monospace, monospace';

/** How each trust state is drawn: outline (solid, dashed, thin) and words. */
const TRUST = {
  trusted: { stroke: '#2e7d32', width: 2.5, dash: '', words: '✓ trusted' },
  untrusted: { stroke: '#c62828', width: 2, dash: '6 4', words: '✗ not trusted' },
  unchecked: { stroke: '#757575', width: 1, dash: '', words: 'not checked' },
  unlisted: { stroke: '#757575', width: 1, dash: '', words: 'no trust list' },
} as const;

/**
 * `chain` as an SVG element: one `<g class="hop" data-hop="i">` per hop, arrows between them, and
 * the reason the walk stopped beside the hop where it stopped.
 *
 * @example
 * const html = `<figure>${chainSvg(chainOf(answer))}</figure>`;
 */
export function chainSvg(chain: Chain, options: ChainSvgOptions = {}): string {
  const title = options.title ?? 'The proxy chain, from the client to the app';
  const listed = chain.hops.some((hop) => hop.role !== 'app' && hop.trusted !== null);
  const peer = chain.hops.length - 2;
  const parts: string[] = [];
  let y = MARGIN;

  chain.hops.forEach((hop, index) => {
    if (index > 0) {
      parts.push(arrow(y));
      y += ARROW;
    }
    const node = hopNode(hop, index, { listed, peer, stopped: chain.stoppedAt, y });
    parts.push(node.svg);
    y += node.height;
    if (index === chain.stoppedAt) {
      const note = stopNote(chain.reason, y + 6);
      parts.push(note.svg);
      y += 6 + note.height;
    }
    if (index === 0 && chain.omitted > 0) {
      parts.push(text(MARGIN + INSET, y + 16, `… ${chain.omitted} more ${chain.omitted === 1 ? 'proxy' : 'proxies'} named, not drawn`,
        { size: 12, fill: '#555' }));
      y += 20;
    }
  });
  if (chain.stoppedAt === null) {
    const note = stopNote(chain.reason, y + 6);
    parts.push(note.svg);
    y += 6 + note.height;
  }
  const height = y + MARGIN;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chain" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}" font-size="13">` +
    `<title>${escapeXml(title)}</title>${parts.join('')}</svg>`;
}

interface Place {
  /** Whether a trust list is configured: unjudged hops say "not checked" rather than "no trust list". */
  listed: boolean;
  /** The index of the socket peer. */
  peer: number;
  stopped: number | null;
  y: number;
}

function hopNode(hop: ChainHop, index: number, place: Place): { svg: string; height: number } {
  const ignored = place.stopped !== null && index < place.stopped;
  const lines: string[] = [];
  const x = MARGIN + INSET;
  let line = place.y + INSET + 12;

  const label = hop.role === 'app' ? 'app'
    : hop.role === 'client' ? (index === place.peer ? 'client · the socket peer' : 'client')
      : `proxy ${place.peer - index + 1}${index === place.peer ? ' · the socket peer' : ''}`;
  lines.push(text(x, line, label, { weight: 'bold' }));
  const state = hop.role === 'app' ? undefined : trustState(hop.trusted, place.listed);
  if (state !== undefined) {
    const words = `${TRUST[state].words}${ignored ? ' · ignored' : ''}`;
    lines.push(text(MARGIN + BOX - INSET, line, words, { anchor: 'end', size: 12 }));
  }
  line += LINE;
  const address = hop.address ?? (index === place.peer && hop.role !== 'app' ? 'no address (a Unix socket)' : 'unknown');
  lines.push(monoLine(x, line, hop.role === 'app' ? `addressed as ${address}` : address));
  const written = Object.entries(hop.wrote);
  for (const [name, value] of written) {
    line += LINE;
    lines.push(monoLine(x, line, hop.role === 'app' ? `sees ${name} = ${value || '(empty)'}` : `${name}: ${value}`, '#444'));
  }
  if (hop.role === 'app' && written.length === 0) {
    line += LINE;
    lines.push(text(x, line, 'sees what the socket told it: nothing was changed', { size: 12, fill: '#444' }));
  }

  const height = line - place.y + INSET;
  const look = state === undefined ? { stroke: '#1565c0', width: 2, dash: '' } : TRUST[state];
  const fill = hop.role === 'app' ? '#eef4fb' : ignored ? '#eeeeee' : '#ffffff';
  const outline = `<rect x="${MARGIN}" y="${place.y}" width="${BOX}" height="${height}" rx="6" fill="${fill}" ` +
    `stroke="${look.stroke}" stroke-width="${look.width}"${look.dash ? ` stroke-dasharray="${look.dash}"` : ''}/>`;
  // A chain may come from JSON read off the network (a probe's answer): even its role is escaped.
  const role = escapeXml(String(hop.role));
  const trusted = hop.role === 'app' ? '' : ` data-trusted="${escapeXml(String(hop.trusted))}"`;
  const svg = `<g class="hop hop-${role}${ignored ? ' ignored' : ''}" data-hop="${index}" data-role="${role}"${trusted}>` +
    `${outline}${lines.join('')}</g>`;
  return { svg, height };
}

function trustState(trusted: boolean | null, listed: boolean): keyof typeof TRUST {
  if (trusted === null) return listed ? 'unchecked' : 'unlisted';
  return trusted ? 'trusted' : 'untrusted';
}

/** The note under the hop where the walk stopped: the reason, wrapped, with the whole of it as a tooltip. */
function stopNote(reason: string, y: number): { svg: string; height: number } {
  const lines = wrap(reason, NOTE_CHARS, NOTE_LINES);
  const height = INSET + 16 + lines.length * 16 + 4;
  const x = MARGIN + INSET + 6;
  const body = lines.map((line, i) => text(x, y + INSET + 12 + (i + 1) * 16, line, { size: 12 })).join('');
  const svg = `<g class="stop"><title>${escapeXml(reason)}</title>` +
    `<rect x="${MARGIN}" y="${y}" width="${BOX}" height="${height}" rx="4" fill="#fff3c4" stroke="#8d6e00" stroke-width="1"/>` +
    `<path d="M${MARGIN} ${y}h5v${height}h-5z" fill="#8d6e00"/>` +
    `${text(x, y + INSET + 12, '▲ The walk from the app stopped here', { weight: 'bold', size: 12 })}${body}</g>`;
  return { svg, height };
}

function arrow(y: number): string {
  const x = WIDTH / 2;
  return `<path class="arrow" d="M${x} ${y + 3}V${y + ARROW - 9}" stroke="#333" stroke-width="1.5" fill="none"/>` +
    `<path d="M${x - 5} ${y + ARROW - 10}h10l-5 7z" fill="#333"/>`;
}

interface TextStyle { anchor?: 'end'; weight?: 'bold'; size?: number; fill?: string; family?: string }

function text(x: number, y: number, content: string, style: TextStyle = {}): string {
  const attributes = [
    style.anchor ? ` text-anchor="${style.anchor}"` : '',
    style.weight ? ` font-weight="${style.weight}"` : '',
    style.size ? ` font-size="${style.size}"` : '',
    style.fill ? ` fill="${style.fill}"` : '',
    style.family ? ` font-family="${style.family}"` : '',
  ].join('');
  return `<text x="${x}" y="${y}"${attributes}>${escapeXml(content)}</text>`;
}

/** A line of request data in monospace, cut to fit with the whole of it as a tooltip. */
function monoLine(x: number, y: number, content: string, fill?: string): string {
  const characters = Array.from(content);
  if (characters.length <= MONO_CHARS) return text(x, y, content, { size: 12, family: MONO, ...(fill ? { fill } : {}) });
  const cut = `${characters.slice(0, MONO_CHARS - 1).join('')}…`;
  const line = text(x, y, cut, { size: 12, family: MONO, ...(fill ? { fill } : {}) });
  return `<g><title>${escapeXml(content)}</title>${line}</g>`;
}

/** `content` in lines of at most `width` characters, broken at spaces where it can be; at most `max` lines. */
export function wrap(content: string, width: number, max: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of content.split(/\s+/).filter((w) => w !== '')) {
    let rest = Array.from(word);
    while (rest.length > 0) {
      const room = current === '' ? width : width - current.length - 1;
      if (rest.length <= room) {
        current = current === '' ? rest.join('') : `${current} ${rest.join('')}`;
        rest = [];
      } else if (current !== '') {
        lines.push(current);
        current = '';
      } else {
        lines.push(rest.slice(0, width).join(''));
        rest = rest.slice(width);
      }
    }
  }
  if (current !== '') lines.push(current);
  if (lines.length <= max) return lines;
  const kept = lines.slice(0, max);
  kept[max - 1] = `${Array.from(kept[max - 1]!).slice(0, width - 1).join('')}…`;
  return kept;
}

/** Characters no XML document may hold: C0 controls but tab and line ends, DEL, non-characters, lone surrogates. */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text for SVG, inside an element or an attribute: markup characters as references, and what XML
 * cannot hold at all (control characters, lone surrogates) as U+FFFD, so that the same string is
 * also a valid standalone .svg file.
 */
export function escapeXml(value: string): string {
  return value
    .replace(NOT_XML, '\uFFFD')
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
