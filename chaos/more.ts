// Bad-input rows, dockerd restart (a private engine), the 3-member cluster, the network partition and
// the accept grace.
import { uniq } from '../test/helpers/docker.js';
import { startEtcd } from '../test/helpers/etcd.js';
import { stopAllPrograms } from '../test/helpers/program.js';
import { fuzzRegistry, rawCases, recordingBackend, slowloris } from './bad-input.js';
import { acceptGrace } from './accept-grace.js';
import { startBalancer, type Row } from './lib.js';
import type { Scenario } from './scenarios.js';
import { clusterScenario } from './cluster.js';
import { dockerdRestart } from './dockerd.js';
import { partition } from './netns.js';

async function fuzzRow(n: number): Promise<Row> {
  const etcd = await startEtcd();
  const backend = await recordingBackend();
  try {
    const client = etcd.client();
    await client.put('/services/valid/manual:v:1').value(JSON.stringify({ host: '127.0.0.1', port: backend.port }));
    const b = await startBalancer(etcd.endpoint, ['--route', 'valid.test=valid']);
    const tag = uniq('fz');
    const r = await fuzzRegistry(client, b, n, 20261122, tag, { url: `${b.proxyUrl}/`, host: 'valid.test' });
    const alive = b.program.proc.exitCode === null;
    const problems: string[] = [];
    if (r.counted !== r.written)
      problems.push(`balancer_invalid_entries_total grew by ${r.counted}, ${r.written} invalid writes`);
    if (r.leaked.length > 0) problems.push(`in /api/table: ${r.leaked.slice(0, 5).join(', ')}`);
    if (!r.validStillServed) problems.push('valid service no longer served');
    if (!alive) problems.push('balancer died');
    return {
      scenario: 'B1 fuzzed registry + route values',
      sent: n,
      failed: Math.abs(r.written - r.counted) + r.leaked.length,
      stale: r.leaked.length,
      target: 'all rejected and counted; none served; no crash',
      pass: problems.length === 0,
      note: problems.join('; '),
    };
  } finally {
    await stopAllPrograms();
    await backend.close();
    await etcd.destroy();
  }
}

async function rawRow(withSlowloris: boolean): Promise<Row> {
  const etcd = await startEtcd();
  const backend = await recordingBackend();
  try {
    await etcd
      .client()
      .put('/services/raw/manual:r:1')
      .value(JSON.stringify({ host: '127.0.0.1', port: backend.port }));
    const b = await startBalancer(etcd.endpoint, ['--default-service', 'raw']);
    const port = Number(new URL(b.proxyUrl).port);
    const results = await rawCases(port, backend);
    const problems = results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.got}`);
    let slowMs: number | undefined;
    if (withSlowloris) {
      const s = await slowloris(port, 30_000);
      slowMs = s.closedAfterMs;
      if (!s.closed || s.closedAfterMs < 29_000 || s.closedAfterMs > 32_500)
        problems.push(
          `slowloris ${s.closed ? 'closed' : 'still open'} after ${s.closedAfterMs} ms (want 30 s header timeout)`,
        );
    }
    const sane = await fetch(`${b.proxyUrl}/after`)
      .then((r) => r.status)
      .catch(() => 0);
    if (sane !== 200) problems.push(`normal request after the attacks: ${sane}`);
    if (b.program.proc.exitCode !== null) problems.push('balancer died');
    const sent = results.length + (withSlowloris ? 1 : 0);
    return {
      scenario: `B2 raw HTTP (malformed, 431, smuggling${withSlowloris ? ', slowloris' : ''})`,
      sent,
      failed: problems.length,
      convergeMs: slowMs,
      stale: 0,
      target: '400/431 as due, nothing reaches the backend; slowloris closed at 30 s',
      pass: problems.length === 0,
      note: problems.join('; '),
    };
  } finally {
    await stopAllPrograms();
    await backend.close();
    await etcd.destroy();
  }
}

export const extraScenarios: readonly Scenario[] = [
  { id: '3', name: '3-member cluster: leader and follower killed', fast: false, run: clusterScenario },
  { id: '6', name: 'dockerd restarted', fast: false, run: dockerdRestart },
  { id: '10', name: 'network partition (netns)', fast: false, run: partition },
  { id: '12', name: 'balancer SIGTERM with --accept-grace under load', fast: true, run: acceptGrace },
  { id: 'B1', name: 'fuzzed registry values', fast: true, run: () => fuzzRow(10_000) },
  { id: 'B2', name: 'raw malformed HTTP', fast: true, run: () => rawRow(true) },
];

export { fuzzRow, rawRow };
