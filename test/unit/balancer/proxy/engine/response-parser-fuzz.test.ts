// Differential fuzz of the response parser against node:http's client parser (llhttp, in process:
// see test/helpers/engine-oracle.ts). Ours must agree with it or reject, never accept something it
// parses differently or rejects. ENGINE_FUZZ_CASES raises the count (default 100,000);
// ENGINE_FUZZ_SEED picks another seed.
import { describe, expect, it } from 'vitest';
import { compareWithOracle, Oracle } from '../../../../helpers/engine-oracle.js';
import { generateCase, mulberry32 } from '../../../../helpers/engine-responses.js';

const CASES = Number(process.env.ENGINE_FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.ENGINE_FUZZ_SEED ?? 0x5eed);

describe('response parser vs node:http (differential fuzz)', () => {
  it(`agrees with llhttp or rejects, over ${CASES} generated cases (seed ${SEED})`, () => {
    const oracle = new Oracle(64 * 1024);
    const rnd = mulberry32(SEED);
    let agree = 0;
    let rejected = 0;
    const bad: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const c = generateCase(rnd);
      const v = compareWithOracle(c, oracle);
      if (v.kind === 'agree') agree++;
      else if (v.kind === 'rejected') rejected++;
      else if (bad.length < 10)
        bad.push(`case ${i} (${v.why}): ${JSON.stringify(c.bytes.toString('latin1').slice(0, 400))} head=${c.isHead}`);
    }
    console.log(`fuzz: ${CASES} cases, ${agree} agreed, ${rejected} rejected by ours`);
    expect(bad).toEqual([]);
    // Most generated responses are valid: a parser that rejected everything would pass the check above.
    expect(agree).toBeGreaterThan(CASES * 0.4);
  }, 120_000);
});
