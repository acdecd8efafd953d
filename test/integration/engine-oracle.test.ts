// Calibrates the fuzz oracle: the in-process llhttp driver (test/helpers/engine-oracle.ts) must see
// generated responses the way a real `http.request` does over a socket (a raw server sends the bytes
// and closes): the same accept/reject of the first final response, the same status, reason, headers,
// body and trailers. If this drifts (a Node upgrade), the differential fuzz would be testing against
// the wrong reference.
import http from 'node:http';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Oracle } from '../helpers/engine-oracle.js';
import { type GeneratedCase, generateCase, mulberry32 } from '../helpers/engine-responses.js';
import { listen } from '../helpers/servers.js';

const CASES = Number(process.env.ENGINE_ORACLE_CASES ?? 600);
const MAX_HEADER = 64 * 1024;

interface Seen {
  accepted: boolean;
  status?: number;
  reason?: string;
  headers?: unknown;
  body?: string;
  trailers?: unknown;
}

let port = 0;
const pending = new Map<number, GeneratedCase>();
const server = createServer((sock: Socket) => {
  sock.on('error', () => undefined);
  let head = '';
  sock.on('data', (d: Buffer) => {
    head += d.toString('latin1');
    const m = /x-case: (\d+)/.exec(head);
    if (!head.includes('\r\n\r\n') || m === null) return;
    const c = pending.get(Number(m[1]));
    head = '';
    if (c === undefined) sock.destroy();
    else sock.end(c.bytes);
  });
});

beforeAll(async () => {
  port = await listen(server);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function viaHttp(id: number, c: GeneratedCase): Promise<Seen> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (s: Seen): void => {
      if (!settled) {
        settled = true;
        resolve(s);
      }
    };
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: c.isHead ? 'HEAD' : 'GET',
        agent: false,
        maxHeaderSize: MAX_HEADER,
        headers: { 'x-case': String(id) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          done({
            accepted: res.complete,
            status: res.statusCode,
            reason: res.statusMessage,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('latin1'),
            trailers: Object.keys(res.trailers).length > 0 ? res.trailers : undefined,
          }),
        );
        res.on('error', () => done({ accepted: false }));
        res.on('aborted', () => done({ accepted: false }));
      },
    );
    req.on('error', () => done({ accepted: false }));
    req.on('upgrade', (_res, sock: Socket) => {
      sock.destroy();
      done({ accepted: false });
    });
    req.setTimeout(5_000, () => req.destroy());
    req.end();
  });
}

/** The oracle's first final response, and whether anything went wrong after it ended. */
function viaOracle(oracle: Oracle, c: GeneratedCase): { seen: Seen; troubleAfter: boolean } {
  oracle.start(c.isHead);
  const r = oracle.execute(c.bytes);
  const finalIndex = (): number =>
    oracle.messages.findIndex(
      (x) => x.complete && !x.upgrade && (x.status >= 200 || x.status < 100 || x.status === 101),
    );
  if (oracle.messages.some((m) => m.upgrade)) return { seen: { accepted: false }, troubleAfter: false };
  let f: Error | undefined;
  if (!(r instanceof Error) && finalIndex() === -1) f = oracle.finish();
  const i = finalIndex();
  const m = oracle.messages[i];
  if (m === undefined) return { seen: { accepted: false }, troubleAfter: false };
  return {
    seen: {
      accepted: true,
      status: m.status,
      reason: m.reason,
      headers: m.headers,
      body: Buffer.concat(m.body).toString('latin1'),
      trailers: m.trailers,
    },
    // A parse error or another message after the response: the real client may report that first.
    troubleAfter: r instanceof Error || f instanceof Error || oracle.messages.length > i + 1,
  };
}

describe('fuzz oracle calibration', () => {
  it(`in-process llhttp sees ${CASES} generated responses as http.request does`, async () => {
    const oracle = new Oracle(MAX_HEADER);
    const rnd = mulberry32(0xca11b);
    const cases = Array.from({ length: CASES }, () => generateCase(rnd));
    const mismatches: string[] = [];
    let accepted = 0;
    let excusedCount = 0;
    const CONCURRENCY = 16;
    for (let i = 0; i < cases.length; i += CONCURRENCY) {
      const batch = cases.slice(i, i + CONCURRENCY);
      batch.forEach((c, j) => pending.set(i + j, c));
      const real = await Promise.all(batch.map((c, j) => viaHttp(i + j, c)));
      batch.forEach((c, j) => {
        pending.delete(i + j);
        const { seen: expected, troubleAfter } = viaOracle(oracle, c);
        if (expected.accepted) accepted++;
        // http.request may fail a complete response on bytes after it (the socket is destroyed
        // before 'end' is emitted); everything it does deliver must be what the oracle parsed.
        const excused = real[j]?.accepted === false && expected.accepted && troubleAfter;
        if (excused) excusedCount++;
        if (!excused && JSON.stringify(real[j]) !== JSON.stringify(expected) && mismatches.length < 5) {
          mismatches.push(
            `case ${i + j}: http ${JSON.stringify(real[j])} oracle ${JSON.stringify(expected)} ` +
              `input ${JSON.stringify(c.bytes.toString('latin1').slice(0, 300))} head=${c.isHead}`,
          );
        }
      });
    }
    expect(mismatches).toEqual([]);
    expect(accepted).toBeGreaterThan(CASES * 0.3);
    expect(excusedCount).toBeLessThan(accepted / 2);
  }, 120_000);
});
