// A strict, incremental HTTP/1.1 response parser, pure: Buffers in, callbacks out, body bytes as
// slices of the input (zero copy). One instance per connection, `reset()` before each response.
//
// Strict on purpose (backends are semi-trusted, and a pooled socket carries one response at a time):
// status line `HTTP/1.0|1.1 NNN[ reason]`, CRLF only, field names are tokens, values without controls,
// no obs-fold, a size and count limit on the header section. Body length per RFC 9112 §6.3, in order:
// response to HEAD, 1xx, 204, 304 → none; Transfer-Encoding with chunked last → chunked; other
// Transfer-Encoding → until close; Content-Length → exactly that many bytes; else until close. Both TE
// and CL, several Content-Length fields (llhttp rejects even equal ones), a length that is not digits,
// a bad chunk line or a missing CRLF after chunk data → error. 1xx other than 101 are reported and
// skipped; 101 stops the parser (`upgrade`) with the rest of the bytes unread. The parser stops at the
// end of the message: whatever follows in the same buffer is left to the caller (which treats it as a
// desync). Where llhttp accepts more (leading CRLFs, HTTP/2.0 status lines, controls in the reason,
// `chunked,`), this parser rejects: it may be stricter than node:http's client, never looser (the
// differential fuzz test holds it to that).
import {
  type FieldFacts,
  hasBadSectionChar,
  parseFieldLines,
  type ResponseHeaders,
  tokenList,
} from './header-fields.js';

export interface ParserHandler {
  /** A 1xx other than 101; the parser goes on to the next head. */
  onInterim(status: number, reason: string, headers: ResponseHeaders): void;
  onHead(status: number, reason: string, headers: ResponseHeaders): void;
  /** Body bytes: `buf[start, end)`. */
  onBody(buf: Buffer, start: number, end: number): void;
  /** Only when the chunked body ended with at least one trailer field. */
  onTrailers(trailers: ResponseHeaders): void;
}

export interface ParserLimits {
  /** Bytes of a header section including its final CRLF CRLF (trailers share the head's budget). */
  readonly maxHeaderBytes: number;
  readonly maxHeaderFields: number;
  /** Interim (1xx) responses before the final one. */
  readonly maxInterim: number;
}

export const DEFAULT_PARSER_LIMITS: ParserLimits = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxHeaderFields: 256,
  maxInterim: 16,
});

export const P_HEAD = 0;
export const P_LENGTH = 1;
export const P_CHUNK_LINE = 2;
export const P_CHUNK_DATA = 3;
export const P_CHUNK_CR = 4;
export const P_CHUNK_LF = 5;
export const P_TRAILERS = 6;
export const P_UNTIL_CLOSE = 7;
/** Terminal states: the message ended, a 101 arrived, the input was invalid, or the owner aborted. */
export const P_DONE = 8;
export const P_UPGRADE = 9;
export const P_ERROR = 10;
export const P_ABORTED = 11;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
// A chunk line: size, extensions, CRLF. Longer is an error (llhttp allows 16 KiB of extensions).
const MAX_CHUNK_LINE = 4096;
// Chunk sizes up to 2^48 - 1: 12 significant hex digits (llhttp allows 64 bits; nobody sends that).
const MAX_CHUNK_SIZE = 2 ** 48;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: (.*))?$/s;
const TCHAR = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
const CHUNK_EXT = new RegExp(`^(?:;${TCHAR}(?:=(?:${TCHAR}|${QUOTED}))?)*$`);

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

export class ResponseParser {
  state = P_HEAD;
  /** Why the input was rejected (for logs); '' unless state is P_ERROR. */
  error = '';
  status = 0;
  /** Whether the connection may carry another request once this message is done. */
  keepAlive = false;
  private isHead = false;
  private interim = 0;
  private headerBytes = 0;
  private remaining = 0;
  /** Bytes of an unfinished header section or chunk line, carried over to the next buffer. */
  private pending: Buffer | undefined;
  private readonly facts: FieldFacts = {
    contentLengths: 0,
    contentLength: '',
    transferEncoding: '',
    connection: '',
    framingTab: false,
  };

  constructor(
    private readonly handler: ParserHandler,
    private readonly limits: ParserLimits = DEFAULT_PARSER_LIMITS,
  ) {}

  /** Prepares for the response to a new request; `isHead`: that request was HEAD (no body follows). */
  reset(isHead: boolean): void {
    this.state = P_HEAD;
    this.error = '';
    this.status = 0;
    this.keepAlive = false;
    this.isHead = isHead;
    this.interim = 0;
    this.headerBytes = 0;
    this.pending = undefined;
  }

  /** Stops parsing from inside a callback: `execute` returns at once and reports nothing more. */
  abort(): void {
    this.state = P_ABORTED;
    this.pending = undefined;
  }

  /** Whether any byte of the current response was consumed (a head, a partial head, an interim). */
  get started(): boolean {
    return this.state !== P_HEAD || this.pending !== undefined || this.interim > 0;
  }

  /**
   * Feeds `buf`; returns how many bytes were consumed. Less than `buf.length` only when the parser
   * reached a terminal state (see `state`): the rest is not part of this message.
   */
  execute(buf: Buffer): number {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.state) {
        case P_HEAD:
          pos = this.section(buf, pos, true);
          break;
        case P_LENGTH: {
          const n = Math.min(this.remaining, len - pos);
          this.remaining -= n;
          if (this.remaining === 0) this.state = P_DONE;
          this.handler.onBody(buf, pos, pos + n);
          pos += n;
          break;
        }
        case P_UNTIL_CLOSE:
          this.handler.onBody(buf, pos, len);
          pos = len;
          break;
        case P_CHUNK_LINE:
          pos = this.chunkLine(buf, pos);
          break;
        case P_CHUNK_DATA: {
          const n = Math.min(this.remaining, len - pos);
          this.remaining -= n;
          if (this.remaining === 0) this.state = P_CHUNK_CR;
          this.handler.onBody(buf, pos, pos + n);
          pos += n;
          break;
        }
        case P_CHUNK_CR:
          if (buf[pos++] !== 0x0d) return this.fail(pos - 1, 'expected CRLF after chunk data');
          this.state = P_CHUNK_LF;
          break;
        case P_CHUNK_LF:
          if (buf[pos++] !== 0x0a) return this.fail(pos - 1, 'expected CRLF after chunk data');
          this.state = P_CHUNK_LINE;
          break;
        case P_TRAILERS:
          pos = this.section(buf, pos, false);
          break;
        default:
          return pos;
      }
    }
    return pos;
  }

  /** The backend closed the connection. True when that completed the message (a close-delimited body). */
  finish(): boolean {
    if (this.state === P_UNTIL_CLOSE) {
      this.state = P_DONE;
      return true;
    }
    if (this.state === P_DONE || this.state === P_UPGRADE) return true;
    if (this.state !== P_ERROR && this.state !== P_ABORTED) {
      const started = this.started;
      this.state = P_ERROR;
      this.error = started ? 'connection closed mid-response' : 'connection closed before any response byte';
    }
    this.pending = undefined;
    return false;
  }

  private bad(why: string): false {
    this.fail(0, why);
    return false;
  }

  private fail(pos: number, why: string): number {
    this.state = P_ERROR;
    this.error = why;
    this.pending = undefined;
    return pos;
  }

  /** Collects a head (or trailer section) up to CRLF CRLF, across buffers; parses it when complete. */
  private section(buf: Buffer, pos: number, head: boolean): number {
    let data = buf;
    let start = pos;
    let from = pos;
    const carried = this.pending;
    if (carried !== undefined) {
      data = Buffer.concat([carried, buf.subarray(pos)]);
      start = 0;
      from = Math.max(0, carried.length - 3);
    }
    const budget = this.limits.maxHeaderBytes - this.headerBytes;
    // An empty trailer section is a bare CRLF right after the last chunk line.
    let textEnd: number;
    let end: number;
    if (!head && data.length - start >= 2 && data[start] === 0x0d && data[start + 1] === 0x0a) {
      textEnd = start;
      end = start + 2;
    } else {
      const idx = data.indexOf(CRLFCRLF, from);
      if (idx === -1) {
        if (data.length - start >= budget) return this.fail(buf.length, 'header section too large');
        // Keep only what is needed; a lone CR of an empty trailer section is pending too.
        this.pending = Buffer.from(data.subarray(start));
        return buf.length;
      }
      textEnd = idx;
      end = idx + 4;
    }
    this.pending = undefined;
    if (end - start > budget) return this.fail(buf.length, 'header section too large');
    this.headerBytes += end - start;
    const consumed = carried === undefined ? end : end - carried.length + pos;
    const text = data.toString('latin1', start, textEnd);
    if (head) this.parseHead(text);
    else this.parseTrailers(text);
    return this.state === P_ERROR ? buf.length : consumed;
  }

  private parseHead(text: string): void {
    let eol = text.indexOf('\r\n');
    if (eol === -1) eol = text.length;
    const m = STATUS_LINE.exec(eol === text.length ? text : text.slice(0, eol));
    if (m === null || hasBadSectionChar(text)) {
      this.fail(0, m === null ? 'invalid status line' : 'invalid character in header section');
      return;
    }
    const minor = m[1] === '1';
    const status = Number(m[2]);
    const reason = m[3] ?? '';
    const facts = this.facts;
    facts.contentLengths = 0;
    facts.transferEncoding = '';
    facts.connection = '';
    facts.framingTab = false;
    const headers: ResponseHeaders = {};
    if (parseFieldLines(text, eol + 2, headers, facts, this.limits.maxHeaderFields) < 0) {
      this.fail(0, 'invalid header field');
      return;
    }
    if (!this.frame(status, minor)) return;
    this.status = status;
    if (this.state === P_HEAD) {
      // An interim response: report it, then expect the next head with a fresh budget.
      if (++this.interim > this.limits.maxInterim) {
        this.fail(0, 'too many interim responses');
        return;
      }
      this.headerBytes = 0;
      this.handler.onInterim(status, reason, headers);
    } else {
      this.handler.onHead(status, reason, headers);
    }
  }

  /** Sets the body state and keep-alive from the head's framing fields; false (and P_ERROR) if invalid. */
  private frame(status: number, http11: boolean): boolean {
    const { contentLengths, contentLength, transferEncoding, connection, framingTab } = this.facts;
    // llhttp reads `chunked\t` as not chunked and `close\t` as not close: a tab in these is refused.
    if (framingTab) return this.bad('tab in a framing field');
    let length = -1;
    if (contentLengths > 0) {
      if (contentLengths > 1) return this.bad('several Content-Length fields');
      if (transferEncoding !== '') return this.bad('both Transfer-Encoding and Content-Length');
      if (!/^\d{1,15}$/.test(contentLength)) return this.bad('invalid Content-Length');
      length = Number(contentLength);
    }
    let chunked = false;
    if (transferEncoding !== '') {
      const codings = tokenList(transferEncoding);
      if (codings === undefined) return this.bad('invalid Transfer-Encoding');
      const at = codings.indexOf('chunked');
      if (at !== -1 && at !== codings.lastIndexOf('chunked')) return this.bad('chunked applied twice');
      chunked = at === codings.length - 1;
    }
    let close: boolean;
    if (connection === '' || connection === 'keep-alive') close = !http11 && connection === '';
    else if (connection === 'close') close = true;
    else {
      const tokens = tokenList(connection);
      // Unreadable Connection: do not reuse the socket.
      close = tokens === undefined || tokens.includes('close') || (!http11 && !tokens.includes('keep-alive'));
    }
    if (status < 200) {
      // llhttp refuses any byte after a message that closes the connection, so the final response too.
      if (close) return this.bad('interim response closes the connection');
      this.state = status === 101 ? P_UPGRADE : P_HEAD;
      return true;
    }
    // No length and not chunked: delimited by close, unless the status or HEAD says there is no body.
    // node:http does not reuse the socket after such a response to HEAD either.
    const byClose = !chunked && length === -1;
    if (status === 204 || status === 304) {
      this.state = P_DONE;
    } else if (this.isHead) {
      this.state = P_DONE;
      if (byClose) close = true;
    } else if (chunked) {
      this.state = P_CHUNK_LINE;
    } else if (byClose) {
      this.state = P_UNTIL_CLOSE;
      close = true;
    } else if (length === 0) {
      this.state = P_DONE;
    } else {
      this.state = P_LENGTH;
      this.remaining = length;
    }
    this.keepAlive = !close;
    return true;
  }

  private parseTrailers(text: string): void {
    if (text.length > 0) {
      const facts = this.facts;
      facts.contentLengths = 0;
      facts.transferEncoding = '';
      facts.connection = '';
      facts.framingTab = false;
      const trailers: ResponseHeaders = {};
      if (hasBadSectionChar(text) || parseFieldLines(text, 0, trailers, facts, this.limits.maxHeaderFields) < 0) {
        this.fail(0, 'invalid trailer field');
        return;
      }
      this.state = P_DONE;
      this.handler.onTrailers(trailers);
      return;
    }
    this.state = P_DONE;
  }

  /** Reads a chunk line (size, extensions, CRLF), across buffers. */
  private chunkLine(buf: Buffer, pos: number): number {
    let data = buf;
    let start = pos;
    const carried = this.pending;
    if (carried !== undefined) {
      data = Buffer.concat([carried, buf.subarray(pos, pos + MAX_CHUNK_LINE)]);
      start = 0;
    }
    const len = data.length;
    let i = start;
    let size = 0;
    for (; i < len; i++) {
      const d = hexValue(data[i] as number);
      if (d < 0) break;
      size = size * 16 + d;
      if (size >= MAX_CHUNK_SIZE) return this.fail(buf.length, 'chunk size too large');
    }
    if (i === start && i < len) return this.fail(buf.length, 'invalid chunk size');
    let extEnd = i;
    if (i < len && data[i] === 0x3b /* ; */) {
      const cr = data.indexOf(0x0d, i);
      extEnd = cr === -1 ? len : cr;
    }
    if (extEnd + 1 >= len) {
      // The line's CRLF has not fully arrived.
      if (len - start >= MAX_CHUNK_LINE) return this.fail(buf.length, 'chunk line too long');
      this.pending = Buffer.from(data.subarray(start));
      return buf.length;
    }
    if (data[extEnd] !== 0x0d || data[extEnd + 1] !== 0x0a) return this.fail(buf.length, 'invalid chunk line');
    if (extEnd > i && !CHUNK_EXT.test(data.toString('latin1', i, extEnd))) {
      return this.fail(buf.length, 'invalid chunk extension');
    }
    if (extEnd + 2 - start > MAX_CHUNK_LINE) return this.fail(buf.length, 'chunk line too long');
    this.pending = undefined;
    const consumed = carried === undefined ? extEnd + 2 : extEnd + 2 - carried.length + pos;
    if (size === 0) {
      this.state = P_TRAILERS;
    } else {
      this.state = P_CHUNK_DATA;
      this.remaining = size;
    }
    return consumed;
  }
}
