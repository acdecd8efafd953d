// The primary of --workers N sends to its workers (health verdicts, metrics requests) while one may
// be dying: Node reports the broken channel as an 'error' event on the worker, which with no listener
// would crash the primary. Proven against a real child process whose channel is gone.
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { guardWorker } from '../../../balancer/primary.js';

describe('guardWorker', () => {
  it('a send to a worker that died is a logged warning with ERR_WORKER_IPC, not a crash', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    guardWorker(Object.assign(child, { id: 7 }), pino(sink));
    child.kill('SIGKILL');
    await exited;
    // No callback: a failure is emitted as 'error', as in prom-client's and our own sends.
    child.send({ type: 'health', unhealthy: [] });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, worker: 7, code: 'ERR_WORKER_IPC' });
  });
});
