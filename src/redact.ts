/**
 * What the inspection app and the probe hide before they echo a request back.
 *
 * The threat: the inspection app and the probe answer with the request they got (headers, query
 * string, Host, the decision trace), and that answer gets pasted into tickets, chats and logs. A
 * credential in it leaks with it: an API key, a session cookie, a token in a callback URL, a
 * password in `https://user:password@host`. A fixed list of header names misses what clients
 * really send (`Proxy_Authorization` through a CGI-style hop, `X-Api-Key`, `?access_token=`), so
 * redaction goes by rules, and errs towards hiding:
 *
 * - Names. A header, or a `name=value` parameter anywhere (the query string, a URL in a header, a
 *   path parameter, the trace), is hidden when its name says it carries a credential. Names are
 *   compared by their words: case and the punctuation between words do not count, so
 *   `Proxy_Authorization` is `proxy-authorization`; parameter names are percent-decoded first.
 * - Values. A header whose value is an authentication scheme and credentials (`Bearer …`), whatever
 *   it is called.
 * - Userinfo. Wherever a URL is shown, what stands before the `@` of its authority; in a value that
 *   carries a host (`Host`, `X-Forwarded-Host`, `Forwarded`, the host fields), what stands before its
 *   last `@`.
 *
 * `redact` names more headers and parameters to hide, `reveal` names ones to show as sent. The answer
 * lists what was hidden, by name, never by value.
 */
import { configError, describe } from './options.js';
import type { FieldTrace, ProxyFixTrace } from './trace.js';

/** What a hidden value is shown as. */
export const REDACTED = '(redacted)';

export interface RedactionOptions {
  /**
   * More header and parameter names to hide, on top of the rules. Compared by their words: case and
   * `-`, `_`, `.` between words do not count.
   * @default []
   */
  redact?: readonly string[];
  /**
   * Header and parameter names to show as sent even though a rule would hide them (`author`,
   * `sec-websocket-key`), compared the same way.
   * @default []
   */
  reveal?: readonly string[];
}

/** What an answer hid, by name: never a value. */
export interface Redacted {
  /** Request headers shown as `(redacted)`, by name as received. */
  headers: string[];
  /** Parameters whose values are shown as `(redacted)`, by name (percent-decoded), wherever they were. */
  parameters: string[];
  /** Where a `user:password@` was cut: env fields, header names, and `trace`. */
  userinfo: string[];
}

/**
 * Pieces that mark a credential wherever they stand in a name, its words run together: `auth`
 * covers `authorization` and `oauth_token`, `apikey` covers `x-api-key` and `apiKey`.
 */
const CREDENTIAL_PIECES = [
  'auth', 'cookie', 'token', 'secret', 'passw', 'passphrase', 'session', 'sessid', 'credential', 'apikey',
  'accesskey', 'privatekey', 'signature', 'jwt', 'csrf', 'xsrf',
];
/** Short words that mark a credential only standing alone: `key` but not `keyword` or `monkey`. */
const CREDENTIAL_WORDS: ReadonlySet<string> = new Set(['key', 'sig', 'pwd', 'pass', 'sid']);
/** A header value that is credentials whatever the header is called: an HTTP authentication scheme and something after it. */
const AUTH_SCHEME = /^\s*(?:basic|bearer|digest|negotiate|ntlm|token|hoba|mutual|vapid|scram-sha-(?:1|256)|aws4-hmac-sha256)\s+\S/i;
/** The authority of a URL up to its last `@`: what WHATWG URL parsers take as userinfo. (Made global where used.) */
const URL_USERINFO = /\/\/([^\s/?#\\"<>]*)@/;
/** Where a `name=` begins in free text: at the start, or after a separator of queries, parameters or lists. */
const PARAMETER_NAME = /(?:^|[?&;,\s])([^=&;,\s?#"<>]+)=/;
/** How far a parameter's value runs: in a query string to the next `&`; in other text also to a space, quote or bracket. */
const QUERY_VALUE = /^[^&#]*/;
const TEXT_VALUE = /^[^&#\s"<>]*/;
/** The env fields that hold a host, or a part of one split from the Host header. */
const HOST_FIELDS: ReadonlySet<string> = new Set(['host', 'serverName', 'serverPort']);

/** A name's words, lower-case: `Proxy_Authorization` → `proxy`, `authorization`. */
function wordsOf(name: string): string[] {
  return name.toLowerCase().split(/[^a-z0-9]+/).filter((word) => word !== '');
}

function keyOf(name: string): string {
  return wordsOf(name).join('-');
}

/** A parameter name as an app would read it: `+` is a space, `%65` is `e`; malformed escapes are left. */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}

function nameList(options: RedactionOptions, option: 'redact' | 'reveal'): Set<string> {
  const names = options[option] ?? [];
  if (!Array.isArray(names) || names.some((name) => typeof name !== 'string')) {
    throw configError('ERR_PROXYFIX_OPTION_TYPE', option, `must be an array of header names, got ${describe(names)}`);
  }
  return new Set(names.map((name: string, i) => {
    const key = keyOf(name);
    if (key === '') {
      throw configError('ERR_PROXYFIX_OPTION_TYPE', `${option}[${i}]`, `must be a header or parameter name (letters or digits), got ${describe(name)}`);
    }
    return key;
  }));
}

/** The rules, compiled once from the options: whether a name is one to hide. */
export interface Redaction {
  /** Whether a header or parameter called `name` is hidden. */
  hides(name: string): boolean;
  /** Whether a header called `name` is shown as sent, by `reveal`. */
  reveals(name: string): boolean;
}

/**
 * Check `redact` and `reveal` and compile the rules. A name in both is a mistake: it would be hidden
 * and shown at once.
 */
export function compileRedaction(options: RedactionOptions): Redaction {
  const redact = nameList(options, 'redact');
  const reveal = nameList(options, 'reveal');
  const both = (options.reveal ?? []).findIndex((name) => redact.has(keyOf(name)));
  if (both !== -1) {
    throw configError('ERR_PROXYFIX_OPTION_CONFLICT', `reveal[${both}]`, 'is also in `redact`: a name is either hidden or shown');
  }
  return {
    hides(name) {
      const words = wordsOf(name);
      const key = words.join('-');
      if (reveal.has(key)) return false;
      if (redact.has(key)) return true;
      const joined = words.join('');
      return CREDENTIAL_PIECES.some((piece) => joined.includes(piece)) || words.some((word) => CREDENTIAL_WORDS.has(word));
    },
    reveals: (name) => reveal.has(keyOf(name)),
  };
}

/** Whether a header's value carries a host, so that an `@` in it ends userinfo. */
function carriesHost(name: string): boolean {
  const words = wordsOf(name);
  return words.includes('host') || words.join('-') === 'forwarded';
}

/**
 * Hides what the rules say in one answer, and notes what it hid. Every value goes through it once:
 * the notes name each thing where it was first found.
 */
export class Redactor {
  readonly #rules: Redaction;
  readonly #headers = new Set<string>();
  readonly #parameters = new Set<string>();
  readonly #userinfo = new Set<string>();

  constructor(rules: Redaction) {
    this.#rules = rules;
  }

  /** What was hidden so far, by name. */
  get redacted(): Redacted {
    return { headers: [...this.#headers], parameters: [...this.#parameters], userinfo: [...this.#userinfo] };
  }

  /** A request header's value as shown. */
  header(name: string, value: string): string {
    if (this.#rules.reveals(name)) return value;
    if (this.#rules.hides(name) || AUTH_SCHEME.test(value)) {
      this.#headers.add(name);
      return REDACTED;
    }
    return this.text(carriesHost(name) ? this.#hostUserinfo(value, name) : value, name);
  }

  /**
   * The env fields as shown. A Host with userinfo splits badly (`user:pw@example.com` gives the
   * server name `user` and the port `pw@example.com`), so a host field found inside the userinfo is
   * hidden whole.
   */
  fields<Fields extends Record<string, string> & { host: string }>(fields: Fields): Fields {
    const userinfo = fields.host.slice(0, Math.max(0, fields.host.lastIndexOf('@')));
    const shown: Record<string, string> = {};
    for (const [field, value] of Object.entries(fields)) {
      if (field === 'queryString') {
        shown[field] = this.#parametersIn(value, QUERY_VALUE);
      } else if (!HOST_FIELDS.has(field)) {
        shown[field] = this.text(value, field);
      } else if (value !== '' && userinfo.includes(value)) {
        this.#userinfo.add(field);
        shown[field] = REDACTED;
      } else {
        shown[field] = this.text(this.#hostUserinfo(value, field), field);
      }
    }
    return shown as Fields;
  }

  /** A copy of the decision trace with everything a client wrote in it redacted. */
  trace(trace: ProxyFixTrace): ProxyFixTrace {
    const changed: ProxyFixTrace['changed'] = {};
    for (const [field, value] of Object.entries(trace.changed) as [keyof ProxyFixTrace['changed'], string][]) {
      changed[field] = this.text(HOST_FIELDS.has(field) ? this.#hostUserinfo(value, 'trace') : value, 'trace');
    }
    return {
      ...trace,
      peer: this.text(trace.peer, 'trace'),
      walk: trace.walk?.map((hop) => ({ ...hop, value: this.text(hop.value, 'trace') })) ?? null,
      fields: trace.fields.map((entry) => this.#traceEntry(entry)),
      changed,
    };
  }

  /** Free text (a header value, a path, a sentence): userinfo in URLs, and parameters by name. */
  text(value: string, where: string): string {
    const cut = value.replace(new RegExp(URL_USERINFO, 'g'), (match, userinfo: string) => {
      if (userinfo === '' || userinfo === REDACTED) return match;
      this.#userinfo.add(where);
      return `//${REDACTED}@`;
    });
    return this.#parametersIn(cut, TEXT_VALUE);
  }

  /** A trace entry's value as shown, and the sentence that quotes it showing the same. */
  #traceEntry(entry: FieldTrace): FieldTrace {
    if (entry.value === null) return { ...entry, detail: this.text(entry.detail, 'trace') };
    const raw = entry.value;
    const value = this.text(entry.field === 'host' ? this.#hostUserinfo(raw, 'trace') : raw, 'trace');
    const detail = entry.detail.replaceAll(JSON.stringify(raw), JSON.stringify(value)).replaceAll(raw, value);
    return { ...entry, value, detail: this.text(detail, 'trace') };
  }

  /** A value that carries a host: everything before its last `@` is userinfo. */
  #hostUserinfo(value: string, where: string): string {
    const at = value.lastIndexOf('@');
    if (at <= 0) return value;
    this.#userinfo.add(where);
    return REDACTED + value.slice(at);
  }

  /** Hide the values of parameters named by the rules; `valueEnd` says how far a value runs. */
  #parametersIn(text: string, valueEnd: RegExp): string {
    let shown = '';
    let from = 0;
    const names = new RegExp(PARAMETER_NAME, 'g');
    for (let match = names.exec(text); match !== null; match = names.exec(text)) {
      const name = decodedName(match[1]!);
      if (!this.#rules.hides(name)) continue;
      const value = valueEnd.exec(text.slice(names.lastIndex))![0];
      if (value === '' || value === REDACTED) continue;
      this.#parameters.add(name);
      shown += text.slice(from, names.lastIndex) + REDACTED;
      from = names.lastIndex + value.length;
      names.lastIndex = from;
    }
    return shown + text.slice(from);
  }
}
