// Docker for the benchmark: the repo's scratch+busybox web image, containers labelled with this
// run's id (so cleanup finds exactly ours), and the engine's event stream for precise timestamps.
// Timed actions use the Engine API directly (what `docker run` / `docker stop` call), so the CLI's
// own start-up time is not charged to the system under test.
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { aborted, runCommand } from './procs.js';
import { ROOT } from './components.js';

export const BENCH_LABEL = 'sidekick.bench';
export const WEB_IMAGE = 'sidekick-bench/web:latest';
export const HEALTH_IMAGE = 'sidekick-bench/web-health:latest';

export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

export async function buildImages(): Promise<void> {
  const r = await runCommand('bash', [join(ROOT, 'scripts', 'build-web-image.sh'), WEB_IMAGE, HEALTH_IMAGE], 180_000);
  if (r.code !== 0) throw new Error(`building the web image failed: ${r.stderr}`);
}

/** Longest a single create or start may take: a wedged engine fails the scenario instead of hanging it. */
const CALL_DEADLINE_MS = 60_000;

/** `p`, or a rejection once `ms` passed: a wedged engine must not hang the bench's cleanup forever. */
function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the Docker engine within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export interface Started {
  readonly id: string;
  readonly name: string;
}

export async function runContainer(
  run: string,
  name: string,
  image: string,
  labels: Record<string, string>,
): Promise<Started> {
  if (aborted()) throw new Error(`${name}: not started, the benchmark is stopping`);
  const c = await withDeadline(
    docker.createContainer({
      Image: image,
      name,
      Hostname: name,
      Labels: { [BENCH_LABEL]: run, ...labels },
      HostConfig: { AutoRemove: false },
    }),
    CALL_DEADLINE_MS,
    `creating ${name}`,
  );
  await withDeadline(c.start(), CALL_DEADLINE_MS, `starting ${name}`);
  return { id: c.id, name };
}

export async function containerIp(id: string): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  const nets = Object.values(info.NetworkSettings.Networks ?? {});
  return nets[0]?.IPAddress ?? '';
}

/**
 * Removes every container of this run (force), a few at a time, within `deadlineMs` overall; what the
 * engine did not remove by then is named in the error, for `docker rm -f` by hand.
 */
export async function removeRunContainers(run: string, deadlineMs = 60_000): Promise<number> {
  const end = Date.now() + deadlineMs;
  const list = await withDeadline(
    docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${run}`] } }),
    deadlineMs,
    'listing containers',
  );
  const left = new Set(list.map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length && Date.now() < end) {
      const c = list[next++]!;
      const name = c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12);
      await withDeadline(docker.getContainer(c.Id).remove({ force: true, v: true }), end - Date.now(), name).then(
        () => left.delete(name),
        (err: unknown) => {
          // Already gone counts as removed.
          if ((err as { statusCode?: number }).statusCode === 404) left.delete(name);
        },
      );
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  if (left.size > 0)
    throw new Error(`containers not removed (the engine did not answer): docker rm -f ${[...left].join(' ')}`);
  return list.length;
}

/** Counts every container event on the engine (anyone's) until `stop()`: context for idle measurements. */
export async function countEngineEvents(): Promise<{ stop(): number }> {
  const stream = (await docker.getEvents({ filters: { type: ['container'] } })) as NodeJS.ReadableStream;
  let n = 0;
  stream.on('data', (chunk: Buffer) => {
    for (const ch of chunk.toString()) if (ch === '\n') n++;
  });
  return {
    stop: () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      return n;
    },
  };
}

export interface DockerEvent {
  readonly id: string;
  readonly action: string;
  readonly timeMs: number;
  readonly name: string;
}

/** The run's container events, read continuously; `next(pred)` resolves with the first match at or after the call. */
export class EventLog {
  private readonly events: DockerEvent[] = [];
  private readonly waiters = new Set<{
    pred: (e: DockerEvent) => boolean;
    resolve: (e: DockerEvent) => void;
    from: number;
  }>();
  private stream: NodeJS.ReadableStream | undefined;

  async open(run: string): Promise<void> {
    const stream = (await docker.getEvents({
      filters: { type: ['container'], label: [`${BENCH_LABEL}=${run}`] },
    })) as NodeJS.ReadableStream;
    this.stream = stream;
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          const raw = JSON.parse(line) as {
            Action: string;
            Actor: { ID: string; Attributes?: Record<string, string> };
            timeNano: number;
          };
          this.push({
            id: raw.Actor.ID,
            action: raw.Action,
            timeMs: raw.timeNano / 1e6,
            name: raw.Actor.Attributes?.name ?? '',
          });
        } catch {
          // a partial or foreign line: ignore
        }
      }
    });
  }

  private push(e: DockerEvent): void {
    this.events.push(e);
    if (this.events.length > 100_000) this.events.splice(0, 50_000);
    for (const w of this.waiters) {
      if (w.pred(e)) {
        this.waiters.delete(w);
        w.resolve(e);
      }
    }
  }

  /** The first event matching `pred`, already seen or still to come, bounded by `timeoutMs`. */
  find(pred: (e: DockerEvent) => boolean, timeoutMs: number): Promise<DockerEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (e: DockerEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
        from: Date.now(),
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no matching Docker event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  close(): void {
    (this.stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }
}
