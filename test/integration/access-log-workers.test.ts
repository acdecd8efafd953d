// Several processes appending to one access log (what --workers N does), and the access log sharing
// stdout with the JSON logs: every line must come out whole. Children run the built module (dist/).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const moduleUrl = pathToFileURL(join(root, 'dist', 'balancer', 'proxy', 'access-log.js')).href;
const loggerUrl = pathToFileURL(join(root, 'dist', 'common', 'logger.js')).href;

// Line sizes vary from ~300 bytes to 20 KB so chunks end at every kind of boundary.
const child = `
import { AccessLog, newAccessRecord } from ${JSON.stringify(moduleUrl)};
import { createLogger } from ${JSON.stringify(loggerUrl)};
const [target, worker, count, withLogs] = process.argv.slice(1);
const log = new AccessLog({ target, flushMs: 20 });
const logger = withLogs === 'yes' ? createLogger('child', 'info', 'json') : undefined;
await log.ready;
for (let i = 0; i < Number(count); i++) {
  const r = newAccessRecord();
  r.time = Date.now();
  r.requestId = worker + '-' + i;
  r.userAgent = 'x'.repeat(i % 500 === 0 ? 20000 : (i % 97) * 37);
  r.path = '/w/' + worker + '?i=' + i;
  log.write(r);
  if (logger && i % 7 === 0) logger.info({ i, pad: 'y'.repeat(i % 300) }, 'between access lines');
  if (i % 50 === 0) await new Promise((res) => setImmediate(res));
}
await log.close();
logger?.flush();
`;

function runChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', child, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('access log shared by processes', () => {
  it('4 processes × 4000 lines into one file: every line whole, none lost', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-alog-workers-'));
    const file = join(dir, 'access.log');
    const workers = 4;
    const n = 4000;
    const results = await Promise.all(
      Array.from({ length: workers }, (_, w) => runChild([file, String(w), String(n), 'no'])),
    );
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(workers * n);
    const seen = new Set<string>();
    let switches = 0;
    let last = '';
    for (const line of lines) {
      const o = JSON.parse(line) as { requestId: string; path: string };
      const [w, i] = o.requestId.split('-');
      expect(o.path).toBe(`/w/${w}?i=${i}`);
      seen.add(o.requestId);
      if (w !== last) switches++;
      last = w ?? '';
    }
    expect(seen.size).toBe(workers * n);
    // The processes did write concurrently (otherwise this test proves nothing).
    expect(switches).toBeGreaterThan(workers * 2);
  });

  it('on stdout beside the JSON logs: every line parses', async () => {
    const r = await runChild(['stdout', '7', '3000', 'yes']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    const access = lines.map((l) => JSON.parse(l) as { requestId?: string; msg?: string });
    expect(access.filter((o) => o.requestId !== undefined)).toHaveLength(3000);
    expect(access.filter((o) => o.msg === 'between access lines')).toHaveLength(Math.ceil(3000 / 7));
  });
});
