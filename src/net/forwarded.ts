/**
 * RFC 7239 `Forwarded` elements, read from the right.
 *
 * The header is split into elements from its right end, where proxies append, and each element is
 * parsed on its own with forwarded-parse. Whatever a client put on the left — an unbalanced quote,
 * a quoted comma (`by="x,for=10.0.0.1"`), a `;` inside a quoted value (`for="1.2.3.4;host=evil"`,
 * Rack's CVE-2026-32762) — can only spoil elements left of the ones proxies wrote, never merge
 * into them; and an element that does not parse stops the walk rather than being skipped.
 */
import parseForwarded from 'forwarded-parse';
import { isIPv4Address, parseAddress, type ReportedAddress } from './address.js';

/** Longest element considered: four parameters with the longest IPv6 form fit in a fraction of it. */
export const MAX_ELEMENT_LENGTH = 512;

export interface ForwardedElement {
  /** The element's text, trimmed. */
  text: string;
  /** Lower-case parameter names to unquoted values; `undefined` when the element is malformed. */
  params: Record<string, string> | undefined;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const SEMICOLON = 59;

/** Walks a `Forwarded` header from its right end, one element at a time. */
export class ForwardedFromRight {
  readonly #header: string;
  #end: number;

  constructor(header: string) {
    this.#header = header;
    this.#end = header.length;
  }

  /** The next element leftwards, or `undefined` when the header is used up. */
  next(): ForwardedElement | undefined {
    const header = this.#header;
    const end = this.#end;
    if (end < 0) return undefined;
    let i = end - 1;
    let quoted = false;
    let pairs = 1;
    for (; i >= 0; i--) {
      const code = header.charCodeAt(i);
      if (quoted) {
        // Going leftwards, a quote ends the quoted string unless an odd run of backslashes escapes it.
        if (code === QUOTE && backslashesBefore(header, i) % 2 === 0) quoted = false;
      } else if (code === QUOTE) {
        quoted = true;
      } else if (code === COMMA) {
        break;
      } else if (code === SEMICOLON) {
        pairs++;
      }
    }
    this.#end = i;
    const text = header.slice(i + 1, end).trim();
    if (quoted || text === '' || text.length > MAX_ELEMENT_LENGTH) return { text, params: undefined };
    return { text, params: parseElement(text, pairs) };
  }
}

function backslashesBefore(header: string, i: number): number {
  let count = 0;
  while (i - count - 1 >= 0 && header.charCodeAt(i - count - 1) === BACKSLASH) count++;
  return count;
}

/** Parameters of one element; `undefined` when it does not parse or repeats a parameter. */
function parseElement(text: string, pairs: number): Record<string, string> | undefined {
  let parsed: Record<string, string>[];
  try {
    parsed = parseForwarded(text);
  } catch {
    return undefined;
  }
  const params = parsed[0];
  // forwarded-parse lets a repeated parameter win silently; which one a proxy meant is unknowable.
  if (parsed.length !== 1 || params === undefined || Object.keys(params).length !== pairs) return undefined;
  return params;
}

/** A `for` or `by` node: an address, or a node the proxy chose not to reveal. */
export type ForwardedNode = ({ kind: 'address' } & ReportedAddress) | { kind: 'unknown' } | { kind: 'obfuscated' };

const OBFUSCATED = /^_[A-Za-z0-9._-]+$/;

/**
 * Parse a node value (already unquoted): `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`,
 * `unknown`, `_hidden`, with an obfuscated port allowed (`[2001:db8::1]:_port`). IPv6 must be bracketed,
 * as RFC 7239 requires. `undefined` when the value is none of these.
 */
export function parseNode(value: string): ForwardedNode | undefined {
  if (value.toLowerCase() === 'unknown') return { kind: 'unknown' };
  if (OBFUSCATED.test(value)) return { kind: 'obfuscated' };
  const colon = value.lastIndexOf(':');
  // An obfuscated port: keep the address, the port stays unknown.
  if (colon !== -1 && OBFUSCATED.test(value.slice(colon + 1))) {
    const address = value.slice(0, colon);
    const node = address.startsWith('[') || isIPv4Address(address) ? parseAddress(address) : undefined;
    return node === undefined ? undefined : { kind: 'address', ...node };
  }
  if (!value.startsWith('[') && value.includes(':') && !/^[\d.]+:\d+$/.test(value)) return undefined;
  const node = parseAddress(value);
  return node === undefined ? undefined : { kind: 'address', ...node };
}
