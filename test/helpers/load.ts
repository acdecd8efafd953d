// A bounded load generator for loopback targets: fixed concurrency, stops at a deadline or a
// request cap, and records every failure so tests can assert "0 failed requests".
import { Agent, request } from 'node:http';

export interface LoadResult {
  sent: number;
  ok: number;
  failures: Failure[];
  /** Response body → count, e.g. which backend served it. */
  bodies: Map<string, number>;
}

/** One failed request, with what is needed to place it against a scenario's events. */
export interface Failure {
  status: number | string;
  body: string;
  /** Epoch ms when the request was issued and when it failed. */
  startedAt?: number;
  at?: number;
  /** The client's keep-alive socket had served an earlier request (Node's `reusedSocket`). */
  reused?: boolean;
  /** The client-side error code (e.g. ECONNRESET), when the request errored. */
  code?: string;
  /** Response headers had arrived before the error (a broken body, not a missing response). */
  gotHeaders?: boolean;
}

export interface LoadOptions {
  readonly url: string;
  readonly concurrency?: number;
  readonly durationMs?: number;
  readonly maxRequests?: number;
  readonly headers?: Record<string, string>;
  /** Ends the load early. */
  readonly signal?: AbortSignal;
}

export function get(
  url: string,
  opts: { agent?: Agent; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    let gotHeaders = false;
    // Errors carry whether the socket was a reused keep-alive one and whether headers had arrived,
    // so a failure can be told apart as a keep-alive race, a missing response or a broken body.
    const fail = (err: Error): void => reject(Object.assign(err, { reused: req.reusedSocket, gotHeaders }));
    const req = request(url, { agent: opts.agent, headers: opts.headers }, (res) => {
      gotHeaders = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', fail);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', fail);
    req.end();
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 8 });
  const deadline = Date.now() + (o.durationMs ?? 2000);
  const max = o.maxRequests ?? 100_000;
  const result: LoadResult = { sent: 0, ok: 0, failures: [], bodies: new Map() };
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline && result.sent < max && !o.signal?.aborted) {
      result.sent++;
      const startedAt = Date.now();
      try {
        const r = await get(o.url, { agent, headers: o.headers });
        if (r.status === 200) {
          result.ok++;
          const key = r.body.trim();
          result.bodies.set(key, (result.bodies.get(key) ?? 0) + 1);
        } else result.failures.push({ status: r.status, body: r.body.slice(0, 200), startedAt, at: Date.now() });
      } catch (err) {
        const e = err as Error & { code?: string; reused?: boolean; gotHeaders?: boolean };
        result.failures.push({
          status: e.message,
          body: '',
          startedAt,
          at: Date.now(),
          ...(e.reused !== undefined ? { reused: e.reused } : {}),
          ...(e.code !== undefined ? { code: e.code } : {}),
          ...(e.gotHeaders !== undefined ? { gotHeaders: e.gotHeaders } : {}),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  agent.destroy();
  return result;
}
