// Runs a built program (dist/) as a child process, the way operators run it, and collects its logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface Program {
  readonly proc: ChildProcess;
  /** stdout+stderr so far. */
  output(): string;
  /** Parsed JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  exited(): Promise<number | string>;
}

const live = new Set<Program>();
const root = join(import.meta.dirname, '..', '..');

export function startProgram(
  name: 'sidekick' | 'balancer',
  args: readonly string[],
  env: Record<string, string> = {},
): Program {
  const proc = spawn(process.execPath, [join(root, 'dist', name, 'main.js'), ...args], {
    env: { ...process.env, ETCD_ENDPOINTS: '', DOCKER_HOST: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | string>((resolve) =>
    proc.once('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')),
  );
  const program: Program = {
    proc,
    output: () => out,
    logs: () =>
      out.split('\n').flatMap((l) => {
        try {
          return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
    exited: () => exit,
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      live.delete(program);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
  };
  live.add(program);
  exit.then(
    () => live.delete(program),
    () => undefined,
  );
  return program;
}

/** Waits for the log line announcing the status/metrics listener and returns its base URL. */
export async function listenUrl(p: Program, msg: string): Promise<string> {
  const line = await waitFor(`"${msg}" in the program's log`, () => p.logs().find((l) => l.msg === msg), 10_000);
  return `http://${String(line.address)}`;
}

export async function stopAllPrograms(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop('SIGKILL')));
}

/** Runs a program to completion (for --help, bad config) and returns code and output. */
export async function runProgram(
  name: 'sidekick' | 'balancer',
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | string; output: string }> {
  const p = startProgram(name, args, env);
  const code = await waitFor('program exit', async () => p.exited(), 15_000);
  return { code, output: p.output() };
}
