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
import { ipv4Number, isIPv4Address, parseAddress, type ReportedAddress } from './address.js';

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
const EQUALS = 61;

/** Walks a `Forwarded` header from its right end, one element at a time. */
export class ForwardedFromRight {
  readonly #header: string;
  #end: number;
  /** Whether the header has no quote at all, so that every comma ends an element. */
  readonly #unquoted: boolean;

  constructor(header: string) {
    this.#header = header;
    this.#end = header.length;
    this.#unquoted = !header.includes('"');
  }

  /** The next element leftwards, or `undefined` when the header is used up. */
  next(): ForwardedElement | undefined {
    const header = this.#header;
    const end = this.#end;
    if (end < 0) return undefined;
    if (this.#unquoted) {
      // Nothing is quoted, so the element starts after the last comma, found by a plain loop
      // rather than the one below. Its pairs are counted if ever needed.
      let comma = end - 1;
      while (comma >= 0 && header.charCodeAt(comma) !== COMMA) comma--;
      this.#end = comma;
      const text = header.slice(comma + 1, end).trim();
      if (text === '' || text.length > MAX_ELEMENT_LENGTH) return { text, params: undefined };
      return { text, params: parseElement(text, undefined) };
    }
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

/**
 * Parameters of one element; `undefined` when it does not parse or repeats a parameter. `pairs` is
 * the number of `;`-separated pairs outside quotes, `undefined` for a text with no quote (counted
 * here, when forwarded-parse is asked).
 */
function parseElement(text: string, pairs: number | undefined): Record<string, string> | undefined {
  const plain = plainElement(text);
  if (plain !== FALL_BACK) return plain;
  pairs ??= text.split(';').length;
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

const FALL_BACK = null;

/**
 * The element as proxies write it, read in one pass: `name=value` pairs joined by `;` with nothing
 * around them, names `for`, `by`, `proto` or `host` (any case), values tokens or quoted strings
 * without `\`. forwarded-parse reads every such text the same way (test/forwarded-parse-plain.ts
 * compares them); it costs several times more, so it is asked only about the rest: FALL_BACK for
 * any text outside this shape. `undefined` when a parameter repeats, as parseElement decides.
 */
function plainElement(text: string): Record<string, string> | undefined | typeof FALL_BACK {
  // Each name is stored under its own literal key, so that the object's shape is one of a few.
  const params: Partial<Record<'for' | 'by' | 'proto' | 'host', string>> = {};
  let i = 0;
  for (;;) {
    const name = plainName(text, i);
    if (name === undefined) return FALL_BACK;
    i += name.length + 1;
    let value: string;
    if (text.charCodeAt(i) === QUOTE) {
      const valueStart = ++i;
      for (let code = text.charCodeAt(i); code !== QUOTE; code = text.charCodeAt(++i)) {
        // Past the end, charCodeAt gives NaN: an unclosed quote falls back too.
        if (!(code >= 0x20 && code <= 0x7e) || code === BACKSLASH) return FALL_BACK;
      }
      value = text.slice(valueStart, i++);
    } else {
      const valueStart = i;
      while (i < text.length && isTokenChar(text.charCodeAt(i))) i++;
      if (i === valueStart) return FALL_BACK;
      value = text.slice(valueStart, i);
    }
    // forwarded-parse lets a repeated parameter win silently; which one a proxy meant is unknowable.
    switch (name) {
      case 'for':
        if (params.for !== undefined) return undefined;
        params.for = value;
        break;
      case 'proto':
        if (params.proto !== undefined) return undefined;
        params.proto = value;
        break;
      case 'host':
        if (params.host !== undefined) return undefined;
        params.host = value;
        break;
      case 'by':
        if (params.by !== undefined) return undefined;
        params.by = value;
        break;
    }
    if (i === text.length) return params as Record<string, string>;
    if (text.charCodeAt(i) !== SEMICOLON) return FALL_BACK;
    i++;
  }
}

/** The parameter name at `start`, lowered, when it is one proxies write and `=` follows it; else `undefined`. */
function plainName(text: string, start: number): 'for' | 'by' | 'proto' | 'host' | undefined {
  const name = PLAIN_NAMES[text.charCodeAt(start) | 0x20];
  return name !== undefined && isWord(text, start, name) && text.charCodeAt(start + name.length) === EQUALS ? name : undefined;
}

/** The plain parameter names by their first letter's code, lowered. */
const PLAIN_NAMES: Readonly<Record<number, 'for' | 'by' | 'proto' | 'host'>> = { 0x66: 'for', 0x62: 'by', 0x70: 'proto', 0x68: 'host' };

/** Whether `text` has lower-case letters `word` at `start`, in any case: `| 0x20` lowers a letter and maps nothing else onto one. */
function isWord(text: string, start: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if ((text.charCodeAt(start + k) | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

/** RFC 7230 `tchar`: the characters of a token. */
const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** TOKEN_CHARS as a table, `1` at each one's code: one look-up per character rather than a chain of tests. */
const TOKEN_TABLE = Array.from({ length: 128 }, (_, code) => (TOKEN_CHARS.includes(String.fromCharCode(code)) ? '1' : '0')).join('');

function isTokenChar(code: number): boolean {
  // Past the table (and for NaN, past the text's end) charCodeAt gives NaN: not a token character.
  return TOKEN_TABLE.charCodeAt(code) === 0x31;
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
  // The usual node first, read once: an IPv4 address without a port (0 is the unspecified one).
  const v4 = ipv4Number(value);
  if (v4 !== -1) return v4 === 0 ? undefined : { kind: 'address', address: value, port: '' };
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
