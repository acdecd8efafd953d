// The bench's parsers and ratio rows, checked without running a load: h2load's summary and per-request
// log become the same result as wrk's (percentiles from the log, non-2xx counted), Prometheus text sums
// only the series asked for, ratios pair runs of the same round, and a variant that dropped requests
// cannot pass a ≤ 10 % target.
import { describe, expect, it } from 'vitest';
import { parseH2load } from '../../../bench/lib/h2load.js';
import {
  interleave,
  medianOf,
  ratioRow,
  variantRow,
  type Interleaved,
  type VariantRun,
} from '../../../bench/lib/interleave.js';
import { sumSeries } from '../../../bench/lib/proc-stats.js';

const H2LOAD_OUT = `starting benchmark...
spawning thread #0: 2 total client(s). 6 total requests
Application protocol: h2

finished in 48.67ms, 123.29 req/s, 5.50KB/s
requests: 6 total, 6 started, 6 done, 5 succeeded, 1 failed, 2 errored, 1 timeout
status codes: 5 2xx, 0 3xx, 0 4xx, 1 5xx
`;
const H2LOAD_LOG = [
  '1796664542905916\t200\t1000',
  '1796664542900080\t200\t2000',
  '1796664542923730\t503\t3000',
  '1796664542926612\t200\t4000',
  '1796664542928204\t200\t5000',
  '',
].join('\n');

describe('parseH2load', () => {
  it('reads req/s and done requests from the summary, latency and non-2xx from the log', () => {
    const r = parseH2load(H2LOAD_OUT, H2LOAD_LOG);
    expect(r).toMatchObject({ rps: 123.29, requests: 6, errors: 3, non2xx: 1, p50: 3 });
    expect(r.p99).toBeCloseTo(4.96, 5);
  });

  it('gives NaN percentiles for an empty log, so a run without requests cannot look fast', () => {
    expect(parseH2load(H2LOAD_OUT, '').p99).toBeNaN();
  });
});

describe('sumSeries', () => {
  const text = [
    '# HELP grpc_server_handled_total x',
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Range"} 7',
    'grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Range"} 2',
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Txn"} 100',
    'grpc_server_handled_total_other 5',
    'etcd_network_client_grpc_sent_bytes_total 1.5e+06',
  ].join('\n');

  it.each([
    ['grpc_server_handled_total', 'grpc_method="Range"', 9],
    ['grpc_server_handled_total', '', 109],
    ['etcd_network_client_grpc_sent_bytes_total', '', 1_500_000],
    ['missing_metric', '', 0],
  ])('%s %s → %d', (name, match, want) => {
    expect(sumSeries(text, name, match)).toBe(want);
  });
});

describe('ratioRow and medianOf', () => {
  const run = (variant: string, round: number, rps: number, errors = 0): VariantRun => ({
    variant,
    round,
    rps,
    requests: rps,
    p50: 1,
    p90: 2,
    p99: 3,
    errors,
    non2xx: 0,
    cpuUsPerReq: 50,
  });
  const interleaved = (runs: VariantRun[]): Interleaved => ({
    rounds: 3,
    seconds: 1,
    runs,
    medians: Object.fromEntries(
      [...new Set(runs.map((r) => r.variant))].map((v) => [v, medianOf(runs.filter((r) => r.variant === v))]),
    ),
  });
  const target = { min: 0.9, goal: 'issue 13' };

  it('medians per variant, errors summed', () => {
    const m = medianOf([run('a', 0, 100), run('a', 1, 300, 1), run('a', 2, 200, 2)]);
    expect(m).toMatchObject({ rps: 200, errors: 3, p99: 3, cpuUsPerReq: 50 });
  });

  it('pairs runs by round: a slow round for both cancels out', () => {
    // a is 0.95× b in every round; the medians alone (600 vs 1000) would say 0.6×.
    const raw = interleaved([
      run('a', 0, 950),
      run('b', 0, 1000),
      run('a', 1, 475),
      run('b', 1, 500),
      run('a', 2, 600),
      run('b', 2, 1500),
    ]);
    const row = ratioRow('s', 'm', raw, 'a', 'b', target);
    expect(row).toMatchObject({ pass: true, target: '≥ 0.9×', goal: 'issue 13' });
    expect(row?.value).toBeCloseTo(0.95, 9);
  });

  it.each([
    [950, 1000, 0, true],
    [899, 1000, 0, false],
    [1000, 1000, 4, false],
  ])('%d vs %d req/s with %d errors: target ≥ 0.9× %s', (a, b, errors, pass) => {
    const row = ratioRow('s', 'm', interleaved([run('a', 0, a, errors), run('b', 0, b)]), 'a', 'b', target);
    expect(row?.pass).toBe(pass);
  });

  it('reports nothing when a variant was not measured, and no verdict without a target', () => {
    const raw = interleaved([run('a', 0, 1), run('b', 0, 1)]);
    expect(ratioRow('s', 'm', raw, 'a', 'c')).toBeUndefined();
    expect(ratioRow('s', 'm', raw, 'a', 'b')?.pass).toBeUndefined();
  });

  it('names the operation in rows and notes: handshakes, not requests, when told', () => {
    const units = { rate: 'handshakes/s', per: 'handshake' };
    const raw = interleaved([run('a', 0, 90), run('b', 0, 100)]);
    const row = variantRow('s', 'a WebSocket', raw.medians.a!, '', units);
    expect(row).toMatchObject({ metric: 'a WebSocket handshakes/s (median)', unit: 'handshakes/s' });
    expect(row.note).toContain('CPU 50 µs/handshake');
    const ratio = ratioRow('s', 'm', raw, 'a', 'b', undefined, units);
    expect(ratio?.note).toContain('medians 90 vs 100 handshakes/s, CPU 50 vs 50 µs/handshake');
    expect(ratioRow('s', 'm', raw, 'a', 'b')?.note).toContain('req/s, CPU 50 vs 50 µs/req');
  });
});

describe('interleave', () => {
  const result = (requests: number, cpuSeconds?: number) => ({
    rps: requests,
    requests,
    p50: 1,
    p90: 2,
    p99: 3,
    errors: 0,
    non2xx: 0,
    ...(cpuSeconds === undefined ? {} : { cpuSeconds }),
  });

  it("charges a run's own CPU window when the load reports one, rotating the order each round", async () => {
    const order: string[] = [];
    const variant = (name: string, cpuSeconds?: number) => ({
      name,
      run: (seconds: number) => {
        if (seconds === 2) order.push(name);
        return Promise.resolve(result(1000, cpuSeconds));
      },
    });
    const raw = await interleave('test', [variant('a', 0.25), variant('b')], 2, 2);
    expect(order).toEqual(['a', 'b', 'b', 'a']);
    expect(raw.medians.a?.cpuUsPerReq).toBeCloseTo(250, 9);
    // Neither a pid nor a reported window: unknown, never a made-up 0.
    expect(raw.medians.b?.cpuUsPerReq).toBeNaN();
  });
});
