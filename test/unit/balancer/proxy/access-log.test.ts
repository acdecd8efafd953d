// The access log: every promised JSON field present and typed, nginx `combined` exactly (checked with a
// log parser's regex), escaping, batching (far fewer write(2) calls than lines), periodic flush, flush on
// close, rotation by rename + reopen with no line lost, open errors, and drops when the writer is stuck.
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AccessRecord,
  AccessLog,
  escapeNginx,
  formatCombined,
  formatJson,
  isoTime,
  ms,
  newAccessRecord,
  protocolOf,
  timeLocal,
} from '../../../../balancer/proxy/access-log.js';
import { waitFor } from '../../../helpers/wait.js';

const T = Date.UTC(2026, 0, 15, 13, 55, 36, 789); // a winter date: no DST anywhere north

function sample(over: Partial<AccessRecord> = {}): AccessRecord {
  return Object.assign(newAccessRecord(), {
    time: T,
    requestId: 'req-1',
    client: '203.0.113.9',
    method: 'GET',
    host: 'a.example.com',
    path: '/p/q?x=1&y=2',
    protocol: 'HTTP/2',
    tls: true,
    status: 201,
    bytes: 1234,
    durationMs: 12.3456789,
    service: 'web',
    backend: 'web/i-1',
    upstreamMs: 10.5,
    attempts: 2,
    userAgent: 'curl/8.0',
    referer: 'https://ref.example/',
    ...over,
  });
}

describe('JSON lines', () => {
  it('have every promised field with its type, in one line', () => {
    const line = formatJson(sample());
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const o = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(o)).toEqual([
      ...['time', 'requestId', 'client', 'method', 'host', 'path', 'protocol', 'tls', 'status', 'bytes'],
      ...['durationMs', 'service', 'backend', 'upstreamMs', 'attempts', 'userAgent', 'referer'],
    ]);
    expect(o).toEqual({
      time: '2026-01-15T13:55:36.789Z',
      requestId: 'req-1',
      client: '203.0.113.9',
      method: 'GET',
      host: 'a.example.com',
      path: '/p/q?x=1&y=2',
      protocol: 'HTTP/2',
      tls: true,
      status: 201,
      bytes: 1234,
      durationMs: 12.346,
      service: 'web',
      backend: 'web/i-1',
      upstreamMs: 10.5,
      attempts: 2,
      userAgent: 'curl/8.0',
      referer: 'https://ref.example/',
    });
  });

  it.each([
    [0, '0'],
    [25.2994, '25.299'],
    [25.3, '25.3'],
    [1.05, '1.05'],
    [0.0004, '0'],
    [0.0005, '0.001'],
    [7.007, '7.007'],
    [999.9996, '1000'],
    [2_147_483.647, '2147483.647'],
    [3_000_000.5, '3000000.5'],
    [-1.2345, '-1.234'],
    [Number.NaN, '0'],
    [Number.POSITIVE_INFINITY, '0'],
  ])('durationMs %s prints as %s (3 decimals at most, as String(x) prints them)', (n, text) => {
    expect(ms(n)).toBe(text);
    if (Number.isFinite(n)) expect(ms(n)).toBe(String(Math.round(n * 1000) / 1000));
  });

  it('time is ISO 8601 UTC with milliseconds, whatever order the seconds come in', () => {
    // Out of order on purpose: the per-second memo must never hand out another second's prefix.
    for (const t of [T, T + 1, T - 1000, T + 5, T - 789, T + 211, T + 86_400_000, T, 0, T + 0.9]) {
      expect(isoTime(t)).toBe(new Date(Math.floor(t)).toISOString());
    }
  });

  it('write nulls for a request no backend saw', () => {
    const o = JSON.parse(
      formatJson(sample({ service: null, backend: null, upstreamMs: null, userAgent: null, referer: null })),
    );
    expect(o).toMatchObject({ service: null, backend: null, upstreamMs: null, userAgent: null, referer: null });
  });

  it('keep hostile strings inside their field', () => {
    const evil = 'a"b\\c\nd\u0000e\u2028f😀\ud800';
    const o = JSON.parse(formatJson(sample({ path: evil, userAgent: evil, host: evil })));
    expect(o.host).toBe(evil);
    expect(o.userAgent).toBe(evil);
  });
});

// A combined-format parser's expression (as in goaccess / logstash COMBINEDAPACHELOG).
const QUOTED = String.raw`"((?:[^"\\]|\\.)*)"`;
const COMBINED = new RegExp(
  String.raw`^(\S+) - - \[(\d{2})/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ` +
    String.raw`([+-]\d{4})\] "(\S+) (\S+) (HTTP/\d\.\d)" (\d{3}) (\d+) ${QUOTED} ${QUOTED}\n$`,
);

describe('combined lines', () => {
  let tz: string | undefined;
  beforeEach(() => {
    tz = process.env.TZ;
  });
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it('match the nginx combined format', () => {
    process.env.TZ = 'UTC';
    const line = formatCombined(sample());
    expect(line).toBe(
      '203.0.113.9 - - [15/Jan/2026:13:55:36 +0000] "GET /p/q?x=1&y=2 HTTP/2.0" 201 1234 ' +
        '"https://ref.example/" "curl/8.0"\n',
    );
    expect(COMBINED.exec(line)?.slice(1)).toEqual([
      ...['203.0.113.9', '15', 'Jan', '2026', '13', '55', '36', '+0000', 'GET', '/p/q?x=1&y=2', 'HTTP/2.0'],
      ...['201', '1234', 'https://ref.example/', 'curl/8.0'],
    ]);
  });

  it.each<[string, Partial<AccessRecord>, string]>([
    ['HTTP/1.1 stays', { protocol: 'HTTP/1.1' }, '"GET /p/q?x=1&y=2 HTTP/1.1"'],
    ['no referer or agent: -', { referer: null, userAgent: '' }, '"-" "-"'],
    ['quotes and backslashes escaped', { userAgent: 'a"b\\c' }, '"a\\x22b\\x5Cc"'],
    ['control characters escaped', { referer: 'x\ny\tz' }, '"x\\x0Ay\\x09z"'],
    ['latin1 header bytes escaped', { userAgent: 'caf\u00e9' }, '"caf\\xE9"'],
    ['beyond latin1: the UTF-8 bytes', { userAgent: '😀' }, '"\\xF0\\x9F\\x98\\x80"'],
  ])('%s', (_t, over, part) => {
    process.env.TZ = 'UTC';
    const line = formatCombined(sample(over));
    expect(line).toContain(part);
    expect(line).toMatch(COMBINED);
  });

  it.each([
    ['UTC', '15/Jan/2026:13:55:36 +0000'],
    ['Asia/Kolkata', '15/Jan/2026:19:25:36 +0530'],
    ['America/New_York', '15/Jan/2026:08:55:36 -0500'],
  ])('$time_local in %s', (zone, want) => {
    process.env.TZ = zone;
    expect(timeLocal(T)).toBe(want);
  });

  it('the parser expression rejects an unescaped quote (so the escaping cases can fail)', () => {
    process.env.TZ = 'UTC';
    const raw = formatCombined(sample({ userAgent: 'ab' })).replace('"ab"', '"a"b"');
    expect(raw).not.toMatch(COMBINED);
  });

  it('escapeNginx leaves plain text alone', () => {
    const s = 'Mozilla/5.0 (X11; Linux x86_64)';
    expect(escapeNginx(s)).toBe(s);
  });
});

it.each([
  ['2.0', 'HTTP/2'],
  ['1.1', 'HTTP/1.1'],
  ['1.0', 'HTTP/1.0'],
])('protocolOf(%s) = %s', (v, want) => {
  expect(protocolOf(v)).toBe(want);
});

describe('AccessLog writer', () => {
  let dir: string;
  const logs: AccessLog[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edge-alog-'));
  });
  afterEach(async () => {
    await Promise.all(logs.splice(0).map((l) => l.close()));
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (o: Partial<ConstructorParameters<typeof AccessLog>[0]> = {}): AccessLog => {
    const log = new AccessLog({ target: join(dir, 'access.log'), ...o });
    logs.push(log);
    return log;
  };
  const lines = (file = join(dir, 'access.log')): string[] =>
    existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

  it('batches lines into far fewer writes and flushes everything on close', async () => {
    const log = open();
    await log.ready;
    for (let i = 0; i < 2000; i++) log.write(sample({ requestId: `r${i}` }));
    await log.close();
    const got = lines().map((l) => JSON.parse(l).requestId);
    expect(got).toEqual(Array.from({ length: 2000 }, (_, i) => `r${i}`));
    const { writes, lines: n } = log.stats();
    expect(n).toBe(2000);
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThan(2000 / 5);
  });

  it('a regular file takes up to 64 KiB of whole lines per write', async () => {
    const log = open();
    await log.ready;
    for (let i = 0; i < 2000; i++) log.write(sample({ requestId: `big${i}` }));
    await log.close();
    const size = statSync(join(dir, 'access.log')).size;
    const longest = Math.max(...lines().map((l) => Buffer.byteLength(l) + 1));
    // Each chunk is written when the next line would not fit: every write but the last is > 64 KiB − a line.
    expect(log.stats().writes).toBeLessThanOrEqual(Math.ceil(size / (65_536 - longest)) + 1);
    expect(lines()).toHaveLength(2000);
  });

  it('a lone line is written by the periodic flush', async () => {
    const log = open({ flushMs: 100 });
    log.write(sample());
    expect(lines()).toEqual([]);
    await waitFor('the periodic flush', () => lines().length === 1, 3000);
  });

  it('writes the combined format when asked', async () => {
    const log = open({ format: 'combined' });
    log.write(sample());
    await log.close();
    expect(lines().map((l) => `${l}\n`)).toEqual([expect.stringMatching(COMBINED)]);
  });

  it('rotation: rename, reopen, new lines land in the new file and none is lost', async () => {
    const file = join(dir, 'access.log');
    const log = open({ flushMs: 50 });
    await log.ready;
    for (let i = 0; i < 1000; i++) log.write(sample({ requestId: `a${i}` }));
    renameSync(file, `${file}.1`); // what logrotate does, then it signals us
    for (let i = 0; i < 10; i++) log.write(sample({ requestId: `b${i}` })); // between rename and signal
    log.reopen();
    for (let i = 0; i < 1000; i++) log.write(sample({ requestId: `c${i}` }));
    await log.close();
    const before = lines(`${file}.1`).map((l) => JSON.parse(l).requestId as string);
    const after = lines(file).map((l) => JSON.parse(l).requestId as string);
    expect(after.filter((id) => id.startsWith('c'))).toHaveLength(1000);
    expect(before.some((id) => id.startsWith('c'))).toBe(false);
    const all = [...before, ...after];
    expect(new Set(all).size).toBe(2010);
    expect(all).toHaveLength(2010);
  });

  it('a destination that cannot be opened rejects ready, reports the error, and closes', async () => {
    const errors: string[] = [];
    const log = open({ target: join(dir, 'missing-dir', 'access.log'), onError: (e) => errors.push(String(e)) });
    await expect(log.ready).rejects.toThrow(/ENOENT/);
    log.write(sample());
    await log.close();
    expect(errors).toHaveLength(1);
    expect(log.stats().errors).toBe(1);
  });

  it('drops and counts lines beyond the buffer bound while the destination is stuck', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const log = open({ target: fifo, maxBufferBytes: 8192 }); // open() blocks until a reader comes
    for (let i = 0; i < 200; i++) log.write(sample({ requestId: `f${i}` }));
    log.flush();
    expect(log.stats().dropped).toBeGreaterThan(0);
    let read = '';
    const reader = createReadStream(fifo, { encoding: 'utf8' });
    reader.on('data', (d) => (read += String(d)));
    const eof = new Promise<void>((r) => reader.once('close', () => r()));
    await log.close();
    await eof;
    const got = read.split('\n').filter(Boolean);
    expect(got.length + log.stats().dropped).toBe(200);
    for (const l of got) JSON.parse(l);
  });
});
