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
  const list = new ListFromRight(header);
  let item: string | undefined;
  for (let i = 0; i < depth; i++) {
    item = list.next();
    if (item === undefined) return undefined;
  }
  return item;
}

/** True when a header carries nothing at all: absent, empty, or only spaces and tabs. */
export function isBlank(header: string | undefined): boolean {
  if (header === undefined) return true;
  for (let i = 0; i < header.length; i++) {
    if (!isSpace(header.charCodeAt(i))) return false;
  }
  return true;
}
