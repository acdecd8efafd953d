// Issue 15's policy cost: one balancer (--workers 1) with two routes to the same service in front of
// the fast static backend; `policy.bench` strips its /api prefix, sets a request header and passes a
// rate limit far above any rate reached here, `plain.bench` does none of that. wrk alternates between
// the two hosts (same process, so JIT and pools are shared; rounds interleaved). Target: the policy
// route at most 10 % fewer req/s. A 429 would show as errors and fail the target.
import { get } from '../lib/http.js';
import { startBenchBalancer, wrk } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { interleave, pairRounds, ratioRow, variantRow, type Interleaved } from '../lib/interleave.js';
import { startNginxStatic } from '../lib/peers.js';

const S = '1 route policy';
const TAG = 'rp';
const LIMIT = 1_000_000_000;

export const POLICY_ROUTE = {
  host: 'policy.bench',
  pathPrefix: '/api',
  service: 'bench',
  stripPrefix: true,
  requestHeaders: { set: { 'X-Bench': 'policy' } },
  rateLimit: { average: LIMIT, burst: LIMIT },
};
export const PLAIN_ROUTE = { host: 'plain.bench', pathPrefix: '/api', service: 'bench' };

export async function routePolicy(ctx: Context): Promise<Interleaved & { routes: unknown[] }> {
  const backend = await startNginxStatic(ctx.work, 'nginx-static-rp');
  try {
    const b = await startBenchBalancer(ctx.etcd, TAG, backend.port, {
      routes: [JSON.stringify(POLICY_ROUTE), JSON.stringify(PLAIN_ROUTE)],
    });
    try {
      const url = `${b.url}/api/users?x=1`;
      for (const host of [POLICY_ROUTE.host, PLAIN_ROUTE.host]) {
        const r = await get(url, host);
        if (r.status !== 200) throw new Error(`route ${host}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      }
      const raw = await interleave(
        'route policy',
        [
          { name: 'plain route', pid: b.proc.pid, run: (s) => wrk(url, s, 32, PLAIN_ROUTE.host) },
          { name: 'policy route', pid: b.proc.pid, run: (s) => wrk(url, s, 32, POLICY_ROUTE.host) },
        ],
        pairRounds(ctx.params.rounds),
        ctx.params.seconds,
      );
      const plain = raw.medians['plain route'];
      const policy = raw.medians['policy route'];
      if (plain) ctx.rows.push(variantRow(S, 'balancer-w1 plain route', plain));
      if (policy)
        ctx.rows.push(variantRow(S, 'balancer-w1 route with stripPrefix + requestHeaders.set + rateLimit', policy));
      const ratio = ratioRow(S, 'policy/plain route req/s (≤ 10 % fewer)', raw, 'policy route', 'plain route', {
        min: 0.9,
        goal: 'issue 15',
      });
      if (ratio) ctx.rows.push(ratio);
      return { ...raw, routes: [POLICY_ROUTE, PLAIN_ROUTE] };
    } finally {
      await b.proc.stop();
    }
  } finally {
    await backend.proc.stop();
  }
}
