// The oracle for the response parser's differential fuzz: node:http's own client parser, in process.
// `_http_common` exports `HTTPParser` (llhttp, the parser `http.request` uses); it is driven here the
// way `ClientRequest` drives it (RESPONSE mode, strict, skip the body of 1xx and of a response to HEAD,
// stop at an upgrade, a 101 without the upgrade flag is a final response) and its raw fields are
// merged into objects by node's own `IncomingMessage.prototype._addHeaderLine`.
// test/integration/engine-oracle.test.ts checks this oracle against real `http.request` calls over
// sockets. `compareWithOracle` runs one case through both parsers and says whether ours agreed,
// rejected, or disagreed (a bug).
import http from 'node:http';
import { createRequire } from 'node:module';
import type { ResponseHeaders } from '../../balancer/proxy/engine/header-fields.js';
import { P_DONE, type ParserHandler, ResponseParser } from '../../balancer/proxy/engine/response-parser.js';
import type { GeneratedCase } from './engine-responses.js';

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | Error;
  finish(): undefined | Error;
  [k: number]: unknown;
}
interface LlhttpParserClass {
  new (): LlhttpParser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnMessageBegin: number;
}

const require = createRequire(import.meta.url);
const { HTTPParser } = require('_http_common') as { HTTPParser: LlhttpParserClass };
const addHeaderLine = (
  http.IncomingMessage.prototype as unknown as {
    _addHeaderLine(this: object, field: string, value: string, dest: Record<string, unknown>): void;
  }
)._addHeaderLine;
const NODE_MESSAGE = { joinDuplicateHeaders: false };

export interface Message {
  status: number;
  reason: string;
  headers: Record<string, unknown>;
  body: Buffer[];
  trailers: Record<string, unknown> | undefined;
  complete: boolean;
  upgrade: boolean;
  keepAlive: boolean;
}

function toObject(raw: string[]): Record<string, unknown> {
  const dest: Record<string, unknown> = {};
  for (let i = 0; i + 1 < raw.length; i += 2)
    addHeaderLine.call(NODE_MESSAGE, raw[i] as string, raw[i + 1] as string, dest);
  return dest;
}

/** llhttp driven like ClientRequest; one instance re-initialised per case. */
export class Oracle {
  private readonly parser = new HTTPParser();
  messages: Message[] = [];
  begun = 0;
  private raw: string[] = [];
  private isHead = false;

  constructor(private readonly maxHeaderSize: number) {
    const p = this.parser;
    p[HTTPParser.kOnMessageBegin] = () => {
      this.begun++;
    };
    p[HTTPParser.kOnHeaders] = (headers: string[]) => {
      for (const h of headers) this.raw.push(h);
    };
    p[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      headers: string[] | undefined,
      _method: unknown,
      _url: unknown,
      status: number,
      reason: string,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      let raw = headers;
      if (raw === undefined) {
        raw = this.raw;
        this.raw = [];
      }
      this.messages.push({
        status,
        reason,
        headers: toObject(raw),
        body: [],
        trailers: undefined,
        complete: false,
        upgrade,
        keepAlive,
      });
      // ClientRequest: an upgrade stops the parser; 1xx but 101 are interim; a 101 without the
      // upgrade flag counts as the final response (llhttp gives it no body).
      if (upgrade) return 2;
      if (status >= 100 && status < 200 && status !== 101) return 1;
      return this.isHead ? 1 : 0;
    };
    p[HTTPParser.kOnBody] = (b: Buffer) => {
      this.messages[this.messages.length - 1]?.body.push(Buffer.from(b));
    };
    p[HTTPParser.kOnMessageComplete] = () => {
      const m = this.messages[this.messages.length - 1];
      if (m === undefined) return;
      m.complete = true;
      if (this.raw.length > 0) {
        m.trailers = toObject(this.raw);
        this.raw = [];
      }
    };
  }

  start(isHead: boolean): void {
    this.messages = [];
    this.raw = [];
    this.begun = 0;
    this.isHead = isHead;
    this.parser.initialize(HTTPParser.RESPONSE, {}, this.maxHeaderSize, 0);
  }

  /** Bytes parsed, or an Error (llhttp's HPE_* code). */
  execute(buf: Buffer): number | Error {
    return buf.length === 0 ? 0 : this.parser.execute(buf);
  }

  finish(): Error | undefined {
    return this.parser.finish();
  }
}

export interface Ours {
  readonly accepted: boolean;
  readonly consumed: number;
  readonly endedByClose: boolean;
  readonly upgrade: boolean;
  readonly keepAlive: boolean;
  readonly error: string;
  readonly messages: Message[];
}

class Recorder implements ParserHandler {
  messages: Message[] = [];
  onInterim(status: number, reason: string, headers: ResponseHeaders): void {
    this.messages.push(msg(status, reason, headers, true));
  }
  onHead(status: number, reason: string, headers: ResponseHeaders): void {
    this.messages.push(msg(status, reason, headers, false));
  }
  onBody(buf: Buffer, start: number, end: number): void {
    this.messages[this.messages.length - 1]?.body.push(Buffer.from(buf.subarray(start, end)));
  }
  onTrailers(trailers: ResponseHeaders): void {
    const m = this.messages[this.messages.length - 1];
    if (m !== undefined) m.trailers = trailers;
  }
}

function msg(status: number, reason: string, headers: ResponseHeaders, complete: boolean): Message {
  return { status, reason, headers, body: [], trailers: undefined, complete, upgrade: false, keepAlive: false };
}

/** Runs our parser over the case's reads, then EOF. */
export function runOurs(c: GeneratedCase, maxHeaderBytes = 64 * 1024): Ours {
  const rec = new Recorder();
  const parser = new ResponseParser(rec, { maxHeaderBytes, maxHeaderFields: 256, maxInterim: 16 });
  parser.reset(c.isHead);
  let consumed = 0;
  let prev = 0;
  const cuts = [...c.splits, c.bytes.length];
  for (const cut of cuts) {
    if (cut <= prev) continue;
    const n = parser.execute(c.bytes.subarray(prev, cut));
    consumed += n;
    if (n < cut - prev || parser.state >= P_DONE) break;
    prev = cut;
  }
  let endedByClose = false;
  if (parser.state < P_DONE) endedByClose = parser.finish();
  const final = rec.messages[rec.messages.length - 1];
  if (final !== undefined && parser.state === P_DONE) final.complete = true;
  return {
    accepted: parser.state === P_DONE,
    consumed,
    endedByClose,
    upgrade: parser.state > P_DONE && parser.error === '',
    keepAlive: parser.keepAlive,
    error: parser.error,
    messages: rec.messages,
  };
}

export type Verdict = { kind: 'agree' } | { kind: 'rejected' } | { kind: 'disagree'; why: string };

const text = (m: Message): string => Buffer.concat(m.body).toString('latin1');
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Our parser must either reject the case, or accept exactly what the oracle parses: same interim and
 * final messages (status, reason, headers with key order, body bytes, trailers), the final message
 * ending at the same byte, and reuse only when node:http would reuse the socket too.
 */
export function compareWithOracle(c: GeneratedCase, oracle: Oracle, ours = runOurs(c)): Verdict {
  if (!ours.accepted) return { kind: 'rejected' };
  const k = ours.consumed;
  oracle.start(c.isHead);
  const finalIndex = ours.messages.length - 1;
  if (ours.endedByClose) {
    const r = oracle.execute(c.bytes);
    if (r instanceof Error) return { kind: 'disagree', why: `oracle rejects (${r.message}) what we accept` };
    if (oracle.messages[finalIndex]?.complete) return { kind: 'disagree', why: 'oracle ends the message before EOF' };
    const f = oracle.finish();
    if (f instanceof Error) return { kind: 'disagree', why: `oracle rejects at EOF (${f.message})` };
  } else {
    // Pin the boundary: not complete one byte before where we ended, complete at it, nothing begun after.
    const r1 = oracle.execute(c.bytes.subarray(0, k - 1));
    if (r1 instanceof Error) return { kind: 'disagree', why: `oracle rejects (${r1.message}) what we accept` };
    if (oracle.messages[finalIndex]?.complete) return { kind: 'disagree', why: 'oracle ends the message earlier' };
    const r2 = oracle.execute(c.bytes.subarray(k - 1, k));
    if (r2 instanceof Error) return { kind: 'disagree', why: `oracle rejects (${r2.message}) the last byte` };
  }
  const om = oracle.messages;
  if (om.length !== ours.messages.length)
    return { kind: 'disagree', why: `${om.length} messages, ours ${ours.messages.length}` };
  if (oracle.begun !== om.length) return { kind: 'disagree', why: 'oracle began another message within ours' };
  for (let i = 0; i < om.length; i++) {
    const a = om[i] as Message;
    const b = ours.messages[i] as Message;
    if (!a.complete) return { kind: 'disagree', why: `oracle message ${i} incomplete at our boundary` };
    if (a.upgrade) return { kind: 'disagree', why: 'oracle sees an upgrade' };
    if (a.status !== b.status) return { kind: 'disagree', why: `status ${a.status} vs ours ${b.status}` };
    if (a.reason !== b.reason)
      return { kind: 'disagree', why: `reason ${JSON.stringify(a.reason)} vs ${JSON.stringify(b.reason)}` };
    if (!same(a.headers, b.headers))
      return { kind: 'disagree', why: `headers ${JSON.stringify(a.headers)} vs ${JSON.stringify(b.headers)}` };
    if (text(a) !== text(b))
      return { kind: 'disagree', why: `body ${JSON.stringify(text(a))} vs ${JSON.stringify(text(b))}` };
    if (!same(a.trailers, b.trailers))
      return { kind: 'disagree', why: `trailers ${JSON.stringify(a.trailers)} vs ${JSON.stringify(b.trailers)}` };
  }
  const final = om[om.length - 1] as Message;
  if (ours.keepAlive && !final.keepAlive) return { kind: 'disagree', why: 'we would reuse a socket node:http closes' };
  return { kind: 'agree' };
}
