// Header field lines → the headers object node:http gives (`IncomingMessage.headers`), pure. The
// merge rules are node's `_addHeaderLine` (Node 20–24): lower-case names; `set-cookie` an array;
// `cookie` joined with '; '; the listed singletons keep their first value and drop the rest; every
// other name joined with ', '. Same keys, values and insertion order, so code written against
// node:http's response headers (forwardResponseHeaders) works unchanged on ours.

/** Response headers or trailers as node:http shapes them. */
export type ResponseHeaders = Record<string, string | string[]>;

// RFC 9110 §5.6.2 tchar: what a field name (and a chunk-extension name) may contain.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** Whether `s.slice(from, to)` is a non-empty token. */
export function isToken(s: string, from = 0, to = s.length): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

const JOIN = 0;
const FIRST_WINS = 1;
const COOKIE = 2;
const SET_COOKIE = 3;

// node's matchKnownFields: names without a flag there keep their first value.
const MERGE = new Map<string, number>([
  ['age', FIRST_WINS],
  ['host', FIRST_WINS],
  ['from', FIRST_WINS],
  ['etag', FIRST_WINS],
  ['server', FIRST_WINS],
  ['referer', FIRST_WINS],
  ['expires', FIRST_WINS],
  ['location', FIRST_WINS],
  ['user-agent', FIRST_WINS],
  ['retry-after', FIRST_WINS],
  ['content-type', FIRST_WINS],
  ['max-forwards', FIRST_WINS],
  ['authorization', FIRST_WINS],
  ['last-modified', FIRST_WINS],
  ['content-length', FIRST_WINS],
  ['if-modified-since', FIRST_WINS],
  ['proxy-authorization', FIRST_WINS],
  ['if-unmodified-since', FIRST_WINS],
  ['cookie', COOKIE],
  ['set-cookie', SET_COOKIE],
]);

/** Adds one field to `dest` the way node:http does. `name` must already be lower case. */
export function addField(dest: ResponseHeaders, name: string, value: string): void {
  const rule = MERGE.get(name) ?? JOIN;
  const prev = dest[name];
  if (rule === SET_COOKIE) {
    if (Array.isArray(prev)) prev.push(value);
    else dest[name] = [value];
  } else if (rule === FIRST_WINS) {
    if (prev === undefined) dest[name] = value;
  } else if (typeof prev === 'string') {
    dest[name] = prev + (rule === COOKIE ? '; ' : ', ') + value;
  } else {
    dest[name] = value;
  }
}

// Anything but HTAB, SP..~ and obs-text, plus a CR or LF not in a CRLF pair: a bare CR/LF, NUL, other
// controls and DEL are invalid anywhere in a header section (llhttp rejects them in field values).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_SECTION_CHAR = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;

/** Whether a header section (as latin1 text, without its final CRLF CRLF) has an invalid character. */
export function hasBadSectionChar(section: string): boolean {
  return BAD_SECTION_CHAR.test(section);
}

/** Framing-relevant fields seen while parsing a section; reset by the caller before each section. */
export interface FieldFacts {
  /** Content-Length field lines seen, and the first value. */
  contentLengths: number;
  contentLength: string;
  /** Transfer-Encoding values joined with ',' in order ('' if none). */
  transferEncoding: string;
  /** Connection values joined with ',' ('' if none). */
  connection: string;
  /** A HTAB after the leading whitespace of a Content-Length, Transfer-Encoding or Connection value. */
  framingTab: boolean;
}

/**
 * Parses the field lines of `text` from `from` (the start of a line) to its end into `dest`; `text`
 * has no final CRLF CRLF and passed `hasBadSectionChar`. Returns the number of fields, or -1 on a
 * malformed line (no colon, a name that is not a token, obs-fold) or more than `maxFields`.
 */
export function parseFieldLines(
  text: string,
  from: number,
  dest: ResponseHeaders,
  facts: FieldFacts,
  maxFields: number,
): number {
  const end = text.length;
  let count = 0;
  let p = from;
  while (p < end) {
    let eol = text.indexOf('\r\n', p);
    if (eol === -1) eol = end;
    const colon = text.indexOf(':', p);
    // A line starting with SP/HTAB (obs-fold) or with whitespace before the colon fails the token test.
    if (colon === -1 || colon > eol || !isToken(text, p, colon)) return -1;
    if (++count > maxFields) return -1;
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--;
    const name = text.slice(p, colon).toLowerCase();
    const value = text.slice(vs, ve);
    switch (name) {
      case 'content-length':
      case 'transfer-encoding':
      case 'connection':
        if (text.indexOf('\t', vs) !== -1 && text.indexOf('\t', vs) < eol) facts.framingTab = true;
        break;
      default:
    }
    switch (name) {
      case 'content-length':
        if (facts.contentLengths++ === 0) facts.contentLength = value;
        break;
      case 'transfer-encoding':
        facts.transferEncoding = facts.transferEncoding === '' ? value : `${facts.transferEncoding},${value}`;
        break;
      case 'connection':
        facts.connection = facts.connection === '' ? value : `${facts.connection},${value}`;
        break;
      default:
    }
    addField(dest, name, value);
    p = eol + 2;
  }
  return count;
}

/**
 * A comma-separated list of tokens, lower case, for Transfer-Encoding and Connection. Undefined when
 * an element is empty or not a token (`chunked,` and `gzip;q=1` are rejected rather than guessed at:
 * llhttp reads `chunked,` as not chunked).
 */
export function tokenList(value: string): string[] | undefined {
  const out: string[] = [];
  let p = 0;
  for (;;) {
    let comma = value.indexOf(',', p);
    if (comma === -1) comma = value.length;
    let s = p;
    let e = comma;
    while (s < e && (value.charCodeAt(s) === 0x20 || value.charCodeAt(s) === 0x09)) s++;
    while (e > s && (value.charCodeAt(e - 1) === 0x20 || value.charCodeAt(e - 1) === 0x09)) e--;
    if (!isToken(value, s, e)) return undefined;
    out.push(value.slice(s, e).toLowerCase());
    if (comma === value.length) return out;
    p = comma + 1;
  }
}
