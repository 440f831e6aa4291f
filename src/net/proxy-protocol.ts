/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2), read from the first bytes of a
 * connection: how a layer-4 load balancer (AWS NLB, HAProxy in TCP mode, nginx `stream`) tells the
 * server behind it who the client is, since it cannot add an HTTP header.
 *
 * The header decides the client address an app and its trust walk see, so whoever can write it can
 * be anyone: the server reads it only from trusted peers (../server/proxy-protocol.ts), and this
 * parser reads it as hostile bytes all the same. It is pure: it never throws on input, never reads
 * past the bytes it is given, and looks at no more than a header's worth of them: 107 bytes for
 * version 1 (the spec's bound, CRLF included), 16 + `maxV2Length` for version 2. Each way of
 * being wrong has a fixed reason, made of no input bytes, so it can go into a log line as it is.
 *
 * Decisions where the spec leaves room:
 * - Version 2's declared length is at most 2048 bytes by default: the largest address block (Unix,
 *   216 bytes) plus every TLV a balancer sends (authority, unique ID ≤ 128, SSL with its CN and
 *   cipher, AWS VPC endpoint ID) fits with room to spare, and a connection costs a bounded buffer.
 * - A CRC32C TLV, when present, is checked, and a mismatch makes the header invalid: the spec says a
 *   receiver that supports the TLV must drop such a connection, and a check costs nothing here.
 * - A TLV this parser knows (ALPN, authority, CRC32C, unique ID, SSL, netns, AWS) may appear once;
 *   a repeated one is invalid rather than letting two readers pick different copies. Unknown types
 *   (NOOP, the custom range) are skipped, as the spec asks.
 * - `UNIX` addresses are returned as paths (an abstract socket as `@name`). What they mean for a
 *   request is the server's decision, as is what to do with `UDP` (`transport: 'dgram'`).
 * - Version 1 is read by the spec's letter: single spaces, `TCP4` with dotted quads, `TCP6` with
 *   IPv6 text (no zone), ports 0 to 65535 in decimal without leading zeros, CRLF and nothing else
 *   (a bare CR or LF, any control or non-ASCII byte, is invalid). `UNKNOWN` may carry anything
 *   printable up to the CRLF, which is ignored.
 */
import { isIPv4Address, isIPv6Address } from './address.js';

/** Where a connection came from or went to: an IP address and port, or a Unix socket path. */
export type ProxyEndpoint = { address: string; port: number } | { path: string };

/** The SSL TLV (0x20): how the client reached the balancer, when over TLS. */
export interface ProxySsl {
  /** PP2_CLIENT_SSL: the client connected over SSL/TLS. */
  ssl: boolean;
  /** PP2_CLIENT_CERT_CONN: the client presented a certificate on this connection. */
  certInConnection: boolean;
  /** PP2_CLIENT_CERT_SESS: the client presented a certificate at least once in this TLS session. */
  certInSession: boolean;
  /** The `verify` field is 0: the client's certificate was verified (when it gave one). */
  verified: boolean;
  /** Sub-TLVs, when sent: `TLSv1.3`, the client certificate's CN, `TLS_AES_128_GCM_SHA256`, … */
  version?: string;
  commonName?: string;
  cipher?: string;
  signatureAlgorithm?: string;
  keyAlgorithm?: string;
}

/**
 * The version 2 TLVs this parser reads; others are skipped. Their text is the client's (its TLS
 * server name, its ALPN offer, its certificate's CN), passed on by the balancer as it came: escape
 * it before it goes into a log line or a page.
 */
export interface ProxyTlvs {
  /** 0x01: the application protocol the client negotiated (`h2`, `http/1.1`). */
  alpn?: string;
  /** 0x02: the host name the client asked for (TLS SNI). */
  authority?: string;
  /** 0x03: present and verified. */
  crc32c?: true;
  /** 0x05: the balancer's unique ID of the connection, as lowercase hex (it is opaque bytes). */
  uniqueId?: string;
  /** 0x20 */
  ssl?: ProxySsl;
  /** 0x30: the network namespace the connection was accepted in. */
  netns?: string;
  /** 0xEA subtype 0x01: the AWS VPC endpoint ID (`vpce-…`) of a PrivateLink connection. */
  awsVpceId?: string;
}

/** A header that parsed. */
export interface ProxyHeader {
  version: 1 | 2;
  /** `LOCAL`: the balancer's own connection (a health check); the addresses mean nothing. */
  command: 'PROXY' | 'LOCAL';
  /** `unspec` for version 1's `UNKNOWN` and version 2's `AF_UNSPEC`. */
  family: 'inet' | 'inet6' | 'unix' | 'unspec';
  /** `dgram` is UDP (or a Unix datagram socket); version 1 knows only `stream`. */
  transport: 'stream' | 'dgram' | 'unspec';
  /** The client; absent for `LOCAL` and `unspec`. */
  source?: ProxyEndpoint;
  /** The address the client connected to (the balancer's); absent when `source` is. */
  destination?: ProxyEndpoint;
  tlvs: ProxyTlvs;
}

/** `env.ext[PROXY_PROTOCOL]`: the connection's PROXY protocol header and its real socket peer, where `serve` read one. */
export const PROXY_PROTOCOL = 'proxyfix.proxyProtocol';

declare module '../gateway.js' {
  interface GatewayExt {
    /** The PROXY protocol header of the request's connection, with its real socket peer (`PROXY_PROTOCOL`). */
    'proxyfix.proxyProtocol'?: ProxyProtocolRecord;
  }
}

/** What a connection's PROXY protocol header gave, for every request on it. */
export interface ProxyProtocolRecord {
  /** The connection's own peer: the balancer, as node reports it (`""` for a Unix socket). */
  socketPeer: { address: string; port: string };
  /** What the request's `remoteAddr` and `remotePort` are set to: the header's client, or the socket peer. */
  client: { address: string; port: string };
  header: ProxyHeader;
}

/** What `parseProxyHeader` makes of a connection's first bytes. */
export type ProxyHeaderResult =
  /** A header of `length` bytes; what follows it is the connection's own data. */
  | { kind: 'header'; header: ProxyHeader; length: number }
  /** So far a header, or the start of one: more bytes are needed. */
  | { kind: 'incomplete' }
  /** The bytes do not start with either version's signature. */
  | { kind: 'absent' }
  /** A header that is not valid (or of a version not accepted); `reason` holds no input bytes. */
  | { kind: 'invalid'; reason: string };

export interface ProxyHeaderLimits {
  /** @default [1, 2] */
  versions?: readonly (1 | 2)[];
  /** The largest declared length of a version 2 header (what follows its 16 bytes). @default 2048 */
  maxV2Length?: number;
}

/** The version 1 bound from the spec: `PROXY UNKNOWN` plus the longest TCP6 line, CRLF included. */
export const MAX_V1_LENGTH = 107;
export const DEFAULT_MAX_V2_LENGTH = 2048;

const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/**
 * Which signature `bytes` starts with: `partial` while they are a proper prefix of one (so a
 * caller waits for more), `none` once they cannot be either.
 */
export function proxySignature(bytes: Uint8Array): 1 | 2 | 'partial' | 'none' {
  const v1 = startsWith(bytes, V1_SIGNATURE);
  const v2 = startsWith(bytes, V2_SIGNATURE);
  if (v1 === 'yes') return 1;
  if (v2 === 'yes') return 2;
  return v1 === 'prefix' || v2 === 'prefix' ? 'partial' : 'none';
}

function startsWith(bytes: Uint8Array, signature: readonly number[]): 'yes' | 'prefix' | 'no' {
  const n = Math.min(bytes.length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return 'no';
  return n === signature.length ? 'yes' : 'prefix';
}

/**
 * Read a PROXY protocol header from the start of `bytes`, which may hold less than a header (the
 * first packets of a connection) or more (the data after it).
 *
 * @example
 * const result = parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n'));
 * // { kind: 'header', length: 44, header: { version: 1, command: 'PROXY', source: { address: '203.0.113.7', port: 51234 }, … } }
 */
export function parseProxyHeader(bytes: Uint8Array, limits: ProxyHeaderLimits = {}): ProxyHeaderResult {
  const signature = proxySignature(bytes);
  if (signature === 'none') return { kind: 'absent' };
  if (signature === 'partial') return INCOMPLETE;
  const versions = limits.versions ?? [1, 2];
  if (!versions.includes(signature)) {
    return invalid(`a version ${signature} header, but only version ${versions.join(' and ')} is accepted`);
  }
  return signature === 1 ? parseV1(bytes) : parseV2(bytes, limits.maxV2Length ?? DEFAULT_MAX_V2_LENGTH);
}

const INCOMPLETE = { kind: 'incomplete' } as const;

function invalid(reason: string): ProxyHeaderResult {
  return { kind: 'invalid', reason };
}

const CR = 0x0d;
const LF = 0x0a;

function parseV1(bytes: Uint8Array): ProxyHeaderResult {
  // Find the CRLF within the bound, refusing on the first byte that cannot be in a header.
  const end = Math.min(bytes.length, MAX_V1_LENGTH);
  let crlf = -1;
  for (let i = V1_SIGNATURE.length; i < end; i++) {
    const byte = bytes[i]!;
    if (byte === CR) {
      if (i + 1 === bytes.length) return INCOMPLETE;
      if (bytes[i + 1] !== LF || i + 1 >= MAX_V1_LENGTH) return invalid('version 1: a CR not followed by LF within 107 bytes');
      crlf = i;
      break;
    }
    if (byte === LF) return invalid('version 1: a bare LF (the line must end with CRLF)');
    if (byte < 0x20 || byte > 0x7e) return invalid('version 1: a control or non-ASCII byte');
  }
  if (crlf === -1) return bytes.length >= MAX_V1_LENGTH ? invalid('version 1: no CRLF within 107 bytes') : INCOMPLETE;
  const line = String.fromCharCode(...bytes.subarray(V1_SIGNATURE.length, crlf));
  const length = crlf + 2;
  const fields = line.split(' ');
  if (fields[0] === 'UNKNOWN') {
    return { kind: 'header', length, header: { version: 1, command: 'PROXY', family: 'unspec', transport: 'unspec', tlvs: {} } };
  }
  if (fields[0] !== 'TCP4' && fields[0] !== 'TCP6') return invalid('version 1: the protocol is not TCP4, TCP6 or UNKNOWN');
  if (fields.length !== 5) return invalid('version 1: not four fields after the protocol, each after a single space');
  const isAddress = fields[0] === 'TCP4' ? isIPv4Address : isIPv6Address;
  const [, source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string];
  if (!isAddress(source) || !isAddress(destination)) {
    return invalid(`version 1: an address that is not ${fields[0] === 'TCP4' ? 'a dotted-quad IPv4' : 'an IPv6'} address`);
  }
  const ports = [sourcePort, destinationPort].map(portNumber);
  if (ports[0] === -1 || ports[1] === -1) return invalid('version 1: a port that is not 0 to 65535 in decimal without leading zeros');
  return {
    kind: 'header',
    length,
    header: {
      version: 1,
      command: 'PROXY',
      family: fields[0] === 'TCP4' ? 'inet' : 'inet6',
      transport: 'stream',
      source: { address: source, port: ports[0]! },
      destination: { address: destination, port: ports[1]! },
      tlvs: {},
    },
  };
}

function portNumber(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return -1;
  const port = Number(text);
  return port <= 65535 ? port : -1;
}

/** Byte 13 (version and command) and byte 14 (family and transport), as the spec tabulates them. */
const COMMANDS: Readonly<Record<number, ProxyHeader['command']>> = { 0x20: 'LOCAL', 0x21: 'PROXY' };
const FAMILIES: Readonly<Record<number, [ProxyHeader['family'], ProxyHeader['transport'], number]>> = {
  0x00: ['unspec', 'unspec', 0],
  0x11: ['inet', 'stream', 12],
  0x12: ['inet', 'dgram', 12],
  0x21: ['inet6', 'stream', 36],
  0x22: ['inet6', 'dgram', 36],
  0x31: ['unix', 'stream', 216],
  0x32: ['unix', 'dgram', 216],
};

function parseV2(bytes: Uint8Array, maxLength: number): ProxyHeaderResult {
  if (bytes.length < 16) return INCOMPLETE;
  const command = COMMANDS[bytes[12]!];
  if (command === undefined) {
    return invalid(bytes[12]! >> 4 === 2 ? 'version 2: a command other than LOCAL or PROXY' : 'version 2: the version nibble is not 2');
  }
  const declared = (bytes[14]! << 8) | bytes[15]!;
  if (declared > maxLength) return invalid(`version 2: a declared length above ${maxLength} bytes`);
  const length = 16 + declared;
  if (bytes.length < length) return INCOMPLETE;
  const header = bytes.subarray(0, length);
  const family = FAMILIES[bytes[13]!];
  // A LOCAL header's address block is to be discarded, family included (the spec, 2.2): whatever
  // its family byte and length say, it is a health check's.
  const local: ProxyHeaderResult = { kind: 'header', length, header: { version: 2, command, family: 'unspec', transport: 'unspec', tlvs: {} } };
  if (family === undefined) {
    return command === 'LOCAL' ? local : invalid('version 2: an address family and transport byte the spec does not define');
  }
  const [name, transport, addressLength] = family;
  if (declared < addressLength) return command === 'LOCAL' ? local : invalid('version 2: a declared length shorter than its address block');
  const tlvs = parseTlvs(header, 16 + addressLength);
  if (typeof tlvs === 'string') return invalid(`version 2: ${tlvs}`);
  const parsed: ProxyHeader = { version: 2, command, family: name, transport, tlvs };
  if (command === 'PROXY' && name !== 'unspec') {
    [parsed.source, parsed.destination] = endpoints(header, name);
  }
  return { kind: 'header', length, header: parsed };
}

function endpoints(header: Uint8Array, family: 'inet' | 'inet6' | 'unix'): [ProxyEndpoint, ProxyEndpoint] {
  if (family === 'unix') return [{ path: unixPath(header.subarray(16, 124)) }, { path: unixPath(header.subarray(124, 232)) }];
  const size = family === 'inet' ? 4 : 16;
  const text = family === 'inet' ? ipv4Text : ipv6Text;
  const ports = 16 + 2 * size;
  return [
    { address: text(header.subarray(16, 16 + size)), port: (header[ports]! << 8) | header[ports + 1]! },
    { address: text(header.subarray(16 + size, ports)), port: (header[ports + 2]! << 8) | header[ports + 3]! },
  ];
}

function ipv4Text(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped, the form a dual-stack socket reports an IPv4 peer in.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return `::ffff:${ipv4Text(bytes.subarray(12))}`;
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

/** A `sun_path`: up to the first NUL; one that starts with a NUL is Linux's abstract namespace, shown as `@name`. */
function unixPath(bytes: Uint8Array): string {
  const abstract = bytes[0] === 0;
  const start = abstract ? 1 : 0;
  let end = bytes.indexOf(0, start);
  if (end === -1) end = bytes.length;
  return (abstract ? '@' : '') + Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
}

const TLV = { alpn: 0x01, authority: 0x02, crc32c: 0x03, uniqueId: 0x05, ssl: 0x20, netns: 0x30, aws: 0xea } as const;
const SSL_SUB = { version: 0x21, commonName: 0x22, cipher: 0x23, signatureAlgorithm: 0x24, keyAlgorithm: 0x25 } as const;

/** Read the TLVs from `offset` to the end of `header`; a string says why they are invalid. */
function parseTlvs(header: Uint8Array, offset: number): ProxyTlvs | string {
  const tlvs: ProxyTlvs = {};
  const seen = new Set<number>();
  const found = tlvsIn(header, offset);
  if (typeof found === 'string') return found;
  for (const [type, start, end] of found) {
    if (type !== TLV.alpn && type !== TLV.authority && type !== TLV.crc32c && type !== TLV.uniqueId &&
      type !== TLV.ssl && type !== TLV.netns && type !== TLV.aws) continue;
    if (seen.has(type)) return `TLV 0x${type.toString(16)} repeated`;
    seen.add(type);
    const value = header.subarray(start, end);
    switch (type) {
      case TLV.alpn: tlvs.alpn = text(value); break;
      case TLV.authority: tlvs.authority = text(value); break;
      case TLV.netns: tlvs.netns = text(value); break;
      case TLV.uniqueId:
        if (value.length > 128) return 'a UNIQUE_ID TLV longer than 128 bytes';
        tlvs.uniqueId = Buffer.from(value).toString('hex');
        break;
      case TLV.crc32c:
        if (value.length !== 4) return 'a CRC32C TLV that is not 4 bytes';
        if (crc32c(header, start) !== ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0) {
          return 'the CRC32C checksum does not match';
        }
        tlvs.crc32c = true;
        break;
      case TLV.ssl: {
        const ssl = parseSsl(header, start, end);
        if (typeof ssl === 'string') return ssl;
        tlvs.ssl = ssl;
        break;
      }
      case TLV.aws:
        // Subtype 0x01 is the VPC endpoint ID; AWS defines no other yet.
        if (value[0] === 0x01) tlvs.awsVpceId = text(value.subarray(1));
        break;
    }
  }
  return tlvs;
}

/** The TLVs in `bytes` from `offset` to its end, as [type, value start, value end], or why they overrun. */
function tlvsIn(bytes: Uint8Array, offset: number): [number, number, number][] | string {
  const found: [number, number, number][] = [];
  for (let at = offset; at < bytes.length;) {
    if (at + 3 > bytes.length) return 'a TLV cut short before its length';
    const end = at + 3 + ((bytes[at + 1]! << 8) | bytes[at + 2]!);
    if (end > bytes.length) return 'a TLV whose length overruns the header';
    found.push([bytes[at]!, at + 3, end]);
    at = end;
  }
  return found;
}

function parseSsl(header: Uint8Array, start: number, end: number): ProxySsl | string {
  if (end - start < 5) return 'an SSL TLV shorter than its 5 fixed bytes';
  const client = header[start]!;
  const verify = (header[start + 1]! | header[start + 2]! | header[start + 3]! | header[start + 4]!) === 0;
  const ssl: ProxySsl = { ssl: (client & 1) !== 0, certInConnection: (client & 2) !== 0, certInSession: (client & 4) !== 0, verified: verify };
  // The sub-TLVs lie inside the SSL TLV's value: they are bounded by it, not by the header.
  const inner = header.subarray(0, end);
  const found = tlvsIn(inner, start + 5);
  if (typeof found === 'string') return `in the SSL TLV, ${found}`;
  for (const [type, from, to] of found) {
    const value = text(inner.subarray(from, to));
    if (type === SSL_SUB.version) ssl.version = value;
    else if (type === SSL_SUB.commonName) ssl.commonName = value;
    else if (type === SSL_SUB.cipher) ssl.cipher = value;
    else if (type === SSL_SUB.signatureAlgorithm) ssl.signatureAlgorithm = value;
    else if (type === SSL_SUB.keyAlgorithm) ssl.keyAlgorithm = value;
  }
  return ssl;
}

/** A TLV's text as UTF-8 (invalid sequences become U+FFFD). */
function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
}

/**
 * CRC32C (Castagnoli) of `header` with the 4 bytes at `checksumAt` read as zeros, as the spec
 * computes it. Bit by bit: a header is at most a few hundred bytes, once per connection.
 */
export function crc32c(header: Uint8Array, checksumAt = header.length): number {
  let crc = 0xffffffff;
  for (let i = 0; i < header.length; i++) {
    crc ^= i >= checksumAt && i < checksumAt + 4 ? 0 : header[i]!;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}
