// The bench's parsers and ratio rows, checked without running a load: h2load's summary and per-request
// log become the same result as wrk's (percentiles from the log, non-2xx counted), Prometheus text sums
// only the series asked for, and a variant that dropped requests cannot pass a ≤ 10 % target.
import { describe, expect, it } from 'vitest';
import { parseH2load } from '../../../bench/lib/h2load.js';
import { medianOf, ratioRow, type VariantRun } from '../../../bench/lib/interleave.js';
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
  const run = (variant: string, rps: number, errors = 0): VariantRun => ({
    variant,
    round: 0,
    rps,
    requests: rps,
    p50: 1,
    p90: 2,
    p99: 3,
    errors,
    non2xx: 0,
    cpuUsPerReq: 50,
  });

  it('medians per variant, errors summed', () => {
    const m = medianOf([run('a', 100), run('a', 300, 1), run('a', 200, 2)]);
    expect(m).toMatchObject({ rps: 200, errors: 3, p99: 3, cpuUsPerReq: 50 });
  });

  it.each([
    [950, 1000, 0, true],
    [899, 1000, 0, false],
    [1000, 1000, 4, false],
  ])('%d vs %d req/s with %d errors: target ≥ 0.9× %s', (a, b, errors, pass) => {
    const row = ratioRow('s', 'm', medianOf([run('a', a, errors)]), medianOf([run('b', b)]), {
      min: 0.9,
      goal: 'issue 13',
    });
    expect(row).toMatchObject({ pass, target: '≥ 0.9×', goal: 'issue 13' });
  });

  it('reports nothing when a variant was not measured', () => {
    expect(ratioRow('s', 'm', undefined, medianOf([run('b', 1)]))).toBeUndefined();
  });
});
