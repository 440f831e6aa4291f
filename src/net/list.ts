/**
 * Reading comma-separated header lists from the right.
 *
 * Proxies append to the right, so the values worth reading are the last few. A client can make a
 * header as long as the server allows; reading from the right means a request costs what its
 * trusted hops need, not what the client chose to send.
 */

const COMMA = 44;
const SPACE = 32;
const TAB = 9;

/** Walks a list header from its right end, one item at a time; each item trimmed of spaces and tabs. */
export class ListFromRight {
  readonly #header: string;
  #end: number;
  /** How many items `next()` has returned so far: the depth of the last one. */
  depth = 0;

  constructor(header: string) {
    this.#header = header;
    this.#end = header.length;
  }

  /** The next item leftwards, or `undefined` when the list is used up. */
  next(): string | undefined {
    const header = this.#header;
    let end = this.#end;
    if (end < 0) return undefined;
    let start = end - 1;
    while (start >= 0 && header.charCodeAt(start) !== COMMA) start--;
    // `start` is the comma left of this item (or -1); the next item ends there.
    this.#end = start;
    let from = start + 1;
    while (from < end && isSpace(header.charCodeAt(from))) from++;
    while (end > from && isSpace(header.charCodeAt(end - 1))) end--;
    this.depth++;
    return header.slice(from, end);
  }
}

function isSpace(code: number): boolean {
  return code === SPACE || code === TAB;
}

/**
 * The item `depth` places from the right (1 = the last), or `undefined` when the list has fewer
 * items. Empty items count as items: `"a, , b"` has three.
 */
export function itemFromRight(header: string, depth: number): string | undefined {
  return itemAt(header, depth, false);
}

/**
 * The item `depth` places from the right, or the leftmost one when the list has fewer items. Read
 * in one pass from the right, without a reader: this runs on every request for every header
 * proxyFix reads.
 */
export function itemAtOrLeftmost(header: string, depth: number): string {
  return itemAt(header, depth, true)!;
}

function itemAt(header: string, depth: number, orLeftmost: boolean): string | undefined {
  // The item at `seen` ends at `end` and starts after `comma` (-1: it is the leftmost).
  const first = header.indexOf(',');
  let end = header.length;
  let comma = commaBefore(header, end, first);
  let seen = 1;
  while (seen < depth && comma >= 0) {
    end = comma;
    comma = commaBefore(header, end, first);
    seen++;
  }
  return seen === depth || orLeftmost ? trimmedItem(header, comma + 1, end) : undefined;
}

/**
 * The comma that ends the item left of the one ending at `end`, or -1 when that item is the first:
 * the item ending at `end` starts right after it. For a reader that walks a list by position;
 * `first` is the header's first comma (`header.indexOf(',')`, found once per header by the
 * engine's fast search), so that the first item, and a header of one, need no loop at all.
 */
export function commaBefore(header: string, end: number, first: number): number {
  if (first === -1 || first >= end) return -1;
  // A loop: String.prototype.lastIndexOf leaves the optimised code for the runtime, and costs more.
  // It needs no lower bound: there is a comma at `first`, before `end`.
  let comma = end - 1;
  while (header.charCodeAt(comma) !== COMMA) comma--;
  return comma;
}

/** The item from `start` to `end`, trimmed of spaces and tabs. */
export function trimmedItem(header: string, start: number, end: number): string {
  let from = start;
  while (from < end && isSpace(header.charCodeAt(from))) from++;
  while (end > from && isSpace(header.charCodeAt(end - 1))) end--;
  return header.slice(from, end);
}

/** True when a header carries nothing at all: absent, empty, or only spaces and tabs. */
export function isBlank(header: string | undefined): boolean {
  if (header === undefined) return true;
  for (let i = 0; i < header.length; i++) {
    if (!isSpace(header.charCodeAt(i))) return false;
  }
  return true;
}
