// The access log: one line per finished request, JSON (the fields below, a promise) or nginx `combined`.
// The proxy fills a plain `AccessRecord`; formatting is two top-level functions (no per-request closures).
// Lines are batched here into chunks of whole lines and handed to sonic-boom, which appends them
// asynchronously (O_APPEND) and keeps writing in order; a periodic flush bounds how long a line waits.
//
// Several processes (cluster workers) may append to one file. Linux performs each write(2) to a regular
// file opened with O_APPEND under the inode lock: the data lands contiguously at the end, whole, whatever
// its size (PIPE_BUF only concerns pipes). Lines can interleave only if one chunk needs two write(2) calls:
// a short write, which for regular files happens on ENOSPC/EFBIG (disk or file-size limit) or a fatal
// signal, after which sonic-boom writes the rest separately. Each chunk handed to sonic-boom is whole
// lines and becomes one write(2) (maxWrite is below the chunk size, so sonic-boom never merges two).
// A regular file takes FILE_CHUNK_BYTES (64 KiB, a couple of hundred lines) per write: every write is a
// round trip through libuv's threadpool (job queued, a thread woken, the syscall, the main loop woken, a
// callback), which at 4 KiB chunks cost more than formatting the lines in them (measured with perf).
// stdout/stderr and any other destination (a FIFO) may be pipes shared with other writers: there, only
// writes up to PIPE_BUF (4 KiB) are atomic, so chunks stay at PIPE_CHUNK_BYTES (a single longer line is
// its own chunk).
//
// Each line is encoded into the chunk's Buffer as soon as it is formatted, while its pieces are still in
// the CPU cache, and sonic-boom gets Buffers (contentMode 'buffer'): concatenating the lines as strings
// instead left a chain of a few thousand small pieces that V8 had to walk and copy when the chunk was
// written, then sonic-boom and fs.write measured and encoded it twice more (~1.5 µs a line in all,
// perf). Measured on this 2-core machine: a 470-byte JSON line ≈ 0.5 µs formatted and copied.
import { fstatSync } from 'node:fs';
import sonicBoom from 'sonic-boom';

// sonic-boom is CommonJS: its default export is the class, which also carries itself as `.SonicBoom`
// (the only spelling both Node's ESM loader and TypeScript's NodeNext view of its types agree on).
const { SonicBoom } = sonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

export type AccessLogFormat = 'json' | 'combined';
export type AccessProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

/** One finished request. Strings are as received (the formatters escape them). */
export interface AccessRecord {
  /** When the request arrived, epoch milliseconds (JSON: ISO 8601 UTC; combined: local time). */
  time: number;
  requestId: string;
  /** The client address as the balancer trusts it (the peer, or X-Forwarded-For from a trusted proxy). */
  client: string;
  method: string;
  host: string;
  /** Path with query, as in the request line. */
  path: string;
  protocol: AccessProtocol;
  tls: boolean;
  status: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  durationMs: number;
  service: string | null;
  /** Backend instance id (`<service>/<instance>`) of the last attempt, or null when no backend was tried. */
  backend: string | null;
  /** Dispatch to response headers of the last attempt; null without a backend response. */
  upstreamMs: number | null;
  attempts: number;
  userAgent: string | null;
  referer: string | null;
}

/** A record with every field present (one object shape for the whole process). */
export function newAccessRecord(): AccessRecord {
  return {
    time: 0,
    requestId: '',
    client: '',
    method: '',
    host: '',
    path: '',
    protocol: 'HTTP/1.1',
    tls: false,
    status: 0,
    bytes: 0,
    durationMs: 0,
    service: null,
    backend: null,
    upstreamMs: null,
    attempts: 0,
    userAgent: null,
    referer: null,
  };
}

/** `req.httpVersion` → the `protocol` field. */
export function protocolOf(httpVersion: string): AccessProtocol {
  return httpVersion === '2.0' ? 'HTTP/2' : httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
}

// Most strings need no JSON escaping; testing for that first is ~4× cheaper than JSON.stringify on a user agent.
const JSON_SAFE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const str = (s: string): string => (JSON_SAFE.test(s) ? `"${s}"` : JSON.stringify(s));
const strOrNull = (s: string | null): string => (s === null ? 'null' : str(s));
const int = (n: number): string => (Number.isFinite(n) ? String(Math.trunc(n)) : '0');

// `.001` … `.999` without trailing zeros: what String(x / 1000) prints after the integer part.
const MILLI_FRACTION = Array.from({ length: 1000 }, (_, f) =>
  f === 0 ? '' : `.${String(f).padStart(3, '0').replace(/0+$/, '')}`,
);
/**
 * Milliseconds to 3 decimals, as String(Math.round(n * 1000) / 1000) prints them. Printing a fraction
 * goes through V8's shortest-double conversion (a runtime call, ~0.3 µs); integers and a table don't.
 */
export function ms(n: number): string {
  const micros = Math.round(n * 1000);
  if (micros >= 0 && micros <= 0x7fffffff) {
    const whole = Math.floor(micros / 1000);
    return `${whole}${MILLI_FRACTION[micros - whole * 1000]}`;
  }
  return Number.isFinite(n) ? String(micros / 1000) : '0';
}

// toISOString costs ~0.4 µs; requests arriving in the same second share its first 20 characters.
// A memo, not state: the output is the same without it.
let isoSecond = NaN;
let isoPrefix = '';
export function isoTime(epochMs: number): string {
  const t = Math.floor(epochMs);
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20); // 2026-01-15T13:55:36.
  }
  const milli = t - second * 1000;
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

export function formatJson(r: AccessRecord): string {
  return (
    `{"time":"${isoTime(r.time)}","requestId":${str(r.requestId)},"client":${str(r.client)},` +
    `"method":${str(r.method)},"host":${str(r.host)},"path":${str(r.path)},"protocol":"${r.protocol}",` +
    `"tls":${r.tls ? 'true' : 'false'},"status":${int(r.status)},"bytes":${int(r.bytes)},` +
    `"durationMs":${ms(r.durationMs)},"service":${strOrNull(r.service)},"backend":${strOrNull(r.backend)},` +
    `"upstreamMs":${r.upstreamMs === null ? 'null' : ms(r.upstreamMs)},"attempts":${int(r.attempts)},` +
    `"userAgent":${strOrNull(r.userAgent)},"referer":${strOrNull(r.referer)}}\n`
  );
}

// nginx's default log escaping: `"`, `\`, control characters and bytes ≥ 0x7f as \xHH (of the UTF-8 bytes).
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\uffff]/;
const hex = (b: number): string => `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;

export function escapeNginx(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c >= 0x20 && c < 0x7f && ch !== '"' && ch !== '\\') out += ch;
    else if (c < 0x100)
      out += hex(c); // headers arrive as latin1: one char per byte
    else for (const b of Buffer.from(ch, 'utf8')) out += hex(b);
  }
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** `$time_local`: `10/Oct/2000:13:55:36 -0700`. */
export function timeLocal(epochMs: number): string {
  const d = new Date(epochMs);
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  const zone = `${off < 0 ? '-' : '+'}${pad2(Math.trunc(abs / 60))}${pad2(abs % 60)}`;
  return (
    `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone}`
  );
}

/** `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"` */
export function formatCombined(r: AccessRecord): string {
  // nginx writes HTTP/2 requests' protocol as HTTP/2.0; log parsers expect that.
  const proto = r.protocol === 'HTTP/2' ? 'HTTP/2.0' : r.protocol;
  return (
    `${escapeNginx(r.client)} - - [${timeLocal(r.time)}] "${escapeNginx(r.method)} ${escapeNginx(r.path)} ${proto}" ` +
    `${int(r.status)} ${int(r.bytes)} "${r.referer ? escapeNginx(r.referer) : '-'}" ` +
    `"${r.userAgent ? escapeNginx(r.userAgent) : '-'}"\n`
  );
}

export interface AccessLogOptions {
  /** `stdout`, `stderr` or a file path (opened for appending; its directory must exist). */
  readonly target: string;
  readonly format?: AccessLogFormat;
  /** Longest a line waits in memory. Default 1000 ms. */
  readonly flushMs?: number;
  /** Beyond this much unwritten data (a stuck disk), lines are dropped and counted. Default 64 MiB. */
  readonly maxBufferBytes?: number;
  /** Write/open errors: the first at once, then at most one call per 10 s with the count since. */
  readonly onError?: (err: Error, count: number) => void;
}

export interface AccessLogStats {
  readonly lines: number;
  /** write(2) calls completed. */
  readonly writes: number;
  readonly dropped: number;
  readonly errors: number;
}

/** Bytes per chunk handed to sonic-boom: to a regular file, and to anything else (file comment). */
const FILE_CHUNK_BYTES = 65_536;
const PIPE_CHUNK_BYTES = 4096;
/** UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair: 4 for 2). */
const MAX_UTF8_PER_UNIT = 3;
const ERROR_REPORT_MS = 10_000;

export class AccessLog {
  private readonly boom: SonicBoom;
  private readonly isFile: boolean;
  private readonly format: (r: AccessRecord) => string;
  private readonly timer: NodeJS.Timeout;
  /** PIPE_CHUNK_BYTES until the destination is known to be a regular file. */
  private chunkBytes = PIPE_CHUNK_BYTES;
  /** The chunk being filled: whole lines in chunk[0, used). Handed over (not reused) when written. */
  private chunk = Buffer.allocUnsafe(PIPE_CHUNK_BYTES);
  private used = 0;
  private openFailed = false;
  /** Set while a reopen waits for the write in progress and the new open (see close()). */
  private reopening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private counts = { lines: 0, writes: 0, dropped: 0, errors: 0 };
  private lastErrorReport = 0;
  private errorsSinceReport = 0;
  /** Resolves once the destination is open; rejects if it cannot be (e.g. a missing directory). */
  readonly ready: Promise<void>;

  constructor(private readonly options: AccessLogOptions) {
    const fd = options.target === 'stdout' ? 1 : options.target === 'stderr' ? 2 : undefined;
    this.isFile = fd === undefined;
    this.boom = new SonicBoom({
      ...(fd === undefined ? { dest: options.target, append: true, mkdir: false } : { fd }),
      minLength: 0, // batching is ours (file comment)
      maxWrite: PIPE_CHUNK_BYTES, // merges only chunks that still fit a pipe write together
      contentMode: 'buffer',
      maxLength: options.maxBufferBytes ?? 64 * 1024 * 1024,
      sync: false,
    });
    this.format = options.format === 'combined' ? formatCombined : formatJson;
    this.ready = new Promise<void>((resolve, reject) => {
      this.boom.once('ready', resolve);
      this.boom.once('error', reject);
    });
    // Reported through onError too. A destination that never opened takes no more writes (they would fail
    // one by one with EBADF); the caller is expected to stop at start when `ready` rejects.
    this.ready.catch(() => (this.openFailed = true));
    this.boom.on('error', (err: Error) => this.failed(err));
    // After each open (reopen too): a path may name a FIFO, which keeps pipe-sized chunks.
    if (this.isFile) this.boom.on('ready', () => this.sizeChunks());
    this.boom.on('write', () => this.counts.writes++);
    this.boom.on('drop', (data: Buffer) => (this.counts.dropped += countLines(data)));
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 1000);
    this.timer.unref();
  }

  write(record: AccessRecord): void {
    if (this.closing) return;
    const line = this.format(record);
    this.counts.lines++;
    if (this.used + line.length * MAX_UTF8_PER_UNIT > this.chunk.length) {
      // It may not fit: measure it exactly.
      const bytes = Buffer.byteLength(line);
      if (this.used + bytes > this.chunk.length) {
        this.flush();
        if (bytes > this.chunk.length) {
          this.hand(Buffer.from(line)); // longer than a chunk: a chunk of its own
          return;
        }
      }
    }
    this.used += this.chunk.write(line, this.used);
  }

  /** Hands buffered lines to the writer now. */
  flush(): void {
    if (this.used === 0) return;
    const full = this.chunk.subarray(0, this.used);
    this.chunk = Buffer.allocUnsafe(this.chunkBytes); // sonic-boom owns `full` until it is written
    this.used = 0;
    this.hand(full);
  }

  private hand(chunk: Buffer): void {
    if (this.openFailed) this.counts.dropped += countLines(chunk);
    else this.boom.write(chunk as unknown as string); // contentMode 'buffer'; the typings know strings only
  }

  /** After logrotate moved the file: open the path anew. Nothing buffered is lost (it goes to the new file). */
  reopen(): void {
    if (this.closing || !this.isFile) return; // stdout/stderr: nothing to reopen
    this.flush();
    this.reopening ??= opened(this.boom).then(() => (this.reopening = undefined));
    this.boom.reopen();
  }

  stats(): AccessLogStats {
    return { ...this.counts };
  }

  /** Writes everything buffered, then closes the file (stdout/stderr stay open). */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    clearInterval(this.timer);
    this.flush();
    const ended = (): Promise<void> =>
      new Promise<void>((resolve) => {
        this.boom.once('close', () => resolve());
        this.boom.end();
      });
    // A destination that never opened has nothing to flush (and sonic-boom would wait for it forever).
    // sonic-boom 4 drops a reopen that is still waiting for a write when end() comes, and then never
    // writes or closes again: end only after the reopen is through.
    this.closing = this.ready.then(() => this.reopening).then(ended, () => undefined);
    return this.closing;
  }

  private sizeChunks(): void {
    // sonic-boom's typings omit `fd`; one fstat per open.
    const { fd } = this.boom as unknown as { fd: number };
    let regular = false;
    try {
      regular = fstatSync(fd).isFile();
    } catch {
      // not knowing keeps the small chunks
    }
    this.chunkBytes = regular ? FILE_CHUNK_BYTES : PIPE_CHUNK_BYTES;
    // Lines already in a chunk of the other size stay there; the next chunk has the new size.
    if (this.used === 0) this.chunk = Buffer.allocUnsafe(this.chunkBytes);
  }

  private failed(err: Error): void {
    this.counts.errors++;
    this.errorsSinceReport++;
    const now = Date.now();
    if (this.counts.errors > 1 && now - this.lastErrorReport < ERROR_REPORT_MS) return;
    this.lastErrorReport = now;
    this.options.onError?.(err, this.errorsSinceReport);
    this.errorsSinceReport = 0;
  }
}

/** The next open (after a reopen) completing, or failing. */
function opened(boom: SonicBoom): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      boom.off('ready', done);
      boom.off('error', done);
      resolve();
    };
    boom.on('ready', done);
    boom.on('error', done);
  });
}

function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n++;
  return n;
}
