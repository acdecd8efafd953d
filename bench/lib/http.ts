// HTTP client helpers: one request with a deadline, and a tight poll loop used to time convergence.
import { Agent, request } from 'node:http';
import { epochMs } from './util.js';

export interface Reply {
  status: number;
  body: string;
  at: number;
  headers: Record<string, string | string[] | undefined>;
}

export const pollAgent = new Agent({ keepAlive: true, maxSockets: 4 });

/** GET with an optional Host header; `at` is the epoch ms when the response ended. */
export function get(url: string, host?: string, agent: Agent = pollAgent, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, at: epochMs(), headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await get(url);
  if (r.status !== 200 && r.status !== 503) throw new Error(`${url}: HTTP ${r.status}`);
  return JSON.parse(r.body) as T;
}

/**
 * Sends requests back to back (no sleep: the resolution is one loopback round trip, well under 1 ms)
 * until `done(reply)` holds; returns that reply and how many requests it took. Errors count as replies
 * with status 0. Bounded by `timeoutMs`.
 */
export async function pollUntil(
  url: string,
  host: string | undefined,
  done: (r: Reply) => boolean,
  timeoutMs: number,
  pauseMs = 0,
): Promise<{ reply: Reply; polls: number }> {
  const deadline = epochMs() + timeoutMs;
  let polls = 0;
  while (epochMs() < deadline) {
    polls++;
    let r: Reply;
    try {
      r = await get(url, host, pollAgent, 2000);
    } catch (err) {
      r = { status: 0, body: (err as Error).message, at: epochMs(), headers: {} };
    }
    if (done(r)) return { reply: r, polls };
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  throw new Error(`poll of ${url} (host ${host ?? '-'}) did not converge within ${timeoutMs} ms`);
}
