// Every process the benchmark starts goes through here, so one cleanup stops them all, on success,
// failure or Ctrl-C. Each pid is also appended, with its kernel start time, to `<work>/pids`, so the
// shell wrapper can stop exactly these processes (never a name match) if the harness itself is killed.
// Programs that fork workers (nginx, HAProxy, Caddy) start in their own process group, and stopping one
// signals the whole group: an nginx worker whose master died would otherwise keep serving.
import { spawn, fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './util.js';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Started as the leader of its own process group; signals go to the group. */
  readonly group: boolean;
  /** Resolves with the exit code or signal name. */
  readonly exited: Promise<number | string>;
  alive(): boolean;
  /** Signal, wait up to `timeoutMs`, then SIGKILL. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  /** The last `bytes` of its log, for error messages. */
  tail(bytes?: number): string;
}

const live = new Set<Proc>();
let workDir = '';
let aborting = false;

/** After a signal: nothing new may start, so cleanup cannot race a scenario that is still running. */
export function abort(): void {
  aborting = true;
}

export function aborted(): boolean {
  return aborting;
}

function refuseIfAborting(name: string): void {
  if (aborting) throw new Error(`${name}: not started, the benchmark is stopping`);
}

export function setWorkDir(dir: string): void {
  workDir = dir;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot; with the pid it names one process. */
export function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function track(name: string, child: ChildProcess, logFile: string, fd: number | undefined, group = false): Proc {
  if (child.pid === undefined) throw new Error(`${name}: could not start (${child.spawnfile})`);
  const pid = child.pid;
  if (workDir) appendFileSync(join(workDir, 'pids'), `${pid} ${startTime(pid)} ${name}${group ? ' group' : ''}\n`);
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => {
      // Right after the leader is reaped: members left behind (workers) still pin the group id, so
      // this reaches only them; with none left it is ESRCH.
      if (group) signal('SIGKILL');
      resolve(code ?? sig ?? 'unknown');
    }),
  );
  if (fd !== undefined) void exited.finally(() => closeSync(fd));
  const proc: Proc = {
    name,
    child,
    pid,
    logFile,
    group,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(sig = 'SIGTERM', timeoutMs = 10_000) {
      if (proc.alive()) signal(sig);
      const timer = setTimeout(() => proc.alive() && signal('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      live.delete(proc);
      return result;
    },
    tail(bytes = 2000) {
      try {
        const text = readFileSync(logFile, 'utf8');
        return text.slice(-bytes);
      } catch {
        return '';
      }
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** Starts a program with stdout and stderr going to `<work>/<name>.log`; `group`: in its own process group. */
export function start(
  name: string,
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
  group = false,
): Proc {
  refuseIfAborting(name);
  const logFile = join(workDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const stdio: StdioOptions = ['ignore', fd, fd];
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio, detached: group });
  return track(name, child, logFile, fd, group);
}

/** Forks a Node module with an IPC channel (load generators report through it). */
export function forkNode(name: string, modulePath: string, args: readonly string[]): Proc {
  refuseIfAborting(name);
  const logFile = join(workDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = fork(modulePath, args, { stdio: ['ignore', fd, fd, 'ipc'] });
  return track(name, child, logFile, fd);
}

/** Runs a short command to completion with a deadline; resolves with its exit code and output. */
export function runCommand(
  cmd: string,
  args: readonly string[],
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    refuseIfAborting(cmd);
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = child.pid !== undefined ? track(`${cmd}-${child.pid}`, child, '/dev/null', undefined) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      if (proc) live.delete(proc);
      resolve({ code: code ?? sig ?? 'unknown', stdout, stderr });
    });
  });
}

/** Stops every live process: SIGTERM to all at once, SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 5000): Promise<void> {
  const procs = [...live];
  await Promise.all(procs.map((p) => p.stop('SIGTERM', graceMs)));
  await sleep(0);
}

export function liveCount(): number {
  return live.size;
}
