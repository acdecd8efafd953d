// Differential fuzz of the response parser against node:http's client parser (llhttp, in process:
// see test/helpers/engine-oracle.ts). Ours must agree with it or reject, never accept something it
// parses differently or rejects. ENGINE_FUZZ_CASES raises the count (default 100,000);
// ENGINE_FUZZ_SEED picks another seed.
import { describe, expect, it } from 'vitest';
import { compareWithOracle, type Ours, Oracle, runOurs } from '../../../../helpers/engine-oracle.js';
import { generateCase, mulberry32 } from '../../../../helpers/engine-responses.js';

const CASES = Number(process.env.ENGINE_FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.ENGINE_FUZZ_SEED ?? 0x5eed);

/** What an agreed case exercised, so the run proves more than "the simple cases agree". */
function features(ours: Ours, c: { bytes: Buffer; isHead: boolean }): string[] {
  const final = ours.messages[ours.messages.length - 1];
  const out: string[] = [];
  if (final === undefined) return out;
  if (
    String(final.headers['transfer-encoding'] ?? '')
      .toLowerCase()
      .endsWith('chunked')
  )
    out.push('chunked');
  if (final.trailers !== undefined) out.push('trailers');
  if (final.headers['content-length'] !== undefined) out.push('content-length');
  if (ours.endedByClose) out.push('until close');
  if (ours.messages.length > 1) out.push('interim');
  if (c.isHead) out.push('HEAD');
  if (final.status === 204 || final.status === 304) out.push('204/304');
  if (!ours.keepAlive) out.push('not reusable');
  if (ours.consumed < c.bytes.length) out.push('bytes after the message');
  if (Array.isArray(final.headers['set-cookie'])) out.push('set-cookie');
  return out;
}

describe('response parser vs node:http (differential fuzz)', () => {
  it(`agrees with llhttp or rejects, over ${CASES} generated cases (seed ${SEED})`, () => {
    const oracle = new Oracle(64 * 1024);
    const rnd = mulberry32(SEED);
    let agree = 0;
    let rejected = 0;
    const bad: string[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const c = generateCase(rnd);
      const ours = runOurs(c);
      const v = compareWithOracle(c, oracle, ours);
      if (v.kind === 'agree') {
        agree++;
        for (const f of features(ours, c)) seen.set(f, (seen.get(f) ?? 0) + 1);
      } else if (v.kind === 'rejected') rejected++;
      else if (bad.length < 10)
        bad.push(`case ${i} (${v.why}): ${JSON.stringify(c.bytes.toString('latin1').slice(0, 400))} head=${c.isHead}`);
    }
    const coverage = [...seen.entries()].map(([f, n]) => `${f} ${n}`).join(', ');
    console.log(`fuzz: ${CASES} cases, ${agree} agreed, ${rejected} rejected by ours; agreed: ${coverage}`);
    expect(bad).toEqual([]);
    // Most generated responses are valid: a parser that rejected everything would pass the check above.
    expect(agree).toBeGreaterThan(CASES * 0.4);
    const FEATURES = ['chunked', 'trailers', 'content-length', 'until close', 'interim', 'HEAD', '204/304'];
    for (const f of [...FEATURES, 'not reusable', 'bytes after the message', 'set-cookie']) {
      expect(seen.get(f) ?? 0, f).toBeGreaterThan(CASES / 2000);
    }
  }, 120_000);
});
