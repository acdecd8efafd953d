// The Docker edge: an event stream that reconnects forever, plus list and inspect.
// Events are only hints; callers re-inspect. After every (re)connect the caller re-lists,
// because Docker's event replay is a lossy 256-event ring that a daemon restart empties.
import type Dockerode from 'dockerode';
import { Backoff, sleep } from '../common/backoff.js';
import { CodedError, ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { toContainer, type Container } from './container.js';

export interface DockerEvent {
  readonly id: string;
  readonly action: string;
  /** When Docker emitted it (ms since the epoch). */
  readonly time: number;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface DockerHandlers {
  onEvent(e: DockerEvent): void;
  /** The event stream is (re)established: everything before it must be re-read. */
  onConnected(): void;
  onDisconnected(err: unknown): void;
}

// Server-side filter: health probes also emit exec_* events that we never want to see.
const ACTIONS = [
  'start',
  'restart',
  'die',
  'stop',
  'kill',
  'pause',
  'unpause',
  'oom',
  'destroy',
  'health_status',
  'rename',
];

interface RawEvent {
  Type?: string;
  timeNano?: number;
  time?: number;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export class DockerSource {
  private readonly abort = new AbortController();
  private stream: NodeJS.ReadableStream | undefined;

  constructor(
    private readonly docker: Dockerode,
    private readonly log: Logger,
    /** Per-container mode: only this container's events. */
    private readonly only: string | undefined,
  ) {}

  /** Runs the event loop in the background until stop(). */
  start(h: DockerHandlers): void {
    void this.loop(h);
  }

  stop(): void {
    this.abort.abort();
    (this.stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }

  private async loop(h: DockerHandlers): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
    while (!this.abort.signal.aborted) {
      try {
        await this.follow(h, () => backoff.reset());
        if (!this.abort.signal.aborted) h.onDisconnected(new Error('Docker event stream ended'));
      } catch (err) {
        if (this.abort.signal.aborted) break;
        h.onDisconnected(err);
      }
      if (this.abort.signal.aborted) break;
      await sleep(backoff.next(), this.abort.signal);
    }
  }

  /** One connection: resolves when the stream ends, rejects when it fails. */
  private async follow(h: DockerHandlers, connected: () => void): Promise<void> {
    const filters: Record<string, string[]> = { type: ['container'], event: ACTIONS };
    if (this.only !== undefined) filters.container = [this.only];
    const stream = (await this.docker.getEvents({ filters })) as NodeJS.ReadableStream;
    this.stream = stream;
    if (this.abort.signal.aborted) return;
    connected();
    h.onConnected();
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) this.emitLine(line, h);
        }
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
  }

  private emitLine(line: string, h: DockerHandlers): void {
    let raw: RawEvent;
    try {
      raw = JSON.parse(line) as RawEvent;
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'unparseable Docker event');
      return;
    }
    const id = raw.Actor?.ID;
    if (raw.Type !== 'container' || !id || !raw.Action) return;
    // "health_status: healthy" → action "health_status", attribute health_status=healthy
    const [action = raw.Action, detail] = raw.Action.split(': ');
    const attributes = { ...(raw.Actor?.Attributes ?? {}), ...(detail !== undefined ? { [action]: detail } : {}) };
    const time =
      raw.timeNano !== undefined
        ? Math.floor(raw.timeNano / 1e6)
        : raw.time !== undefined
          ? raw.time * 1000
          : Date.now();
    h.onEvent({ id, action, time, attributes });
  }

  /** Ids of running (and paused) containers. */
  async list(): Promise<string[]> {
    try {
      const list = await this.docker.listContainers({ all: false });
      return list.map((c) => c.Id).sort();
    } catch (err) {
      throw dockerError('list containers', err);
    }
  }

  /** The container, or undefined when it no longer exists. */
  async inspect(idOrName: string): Promise<Container | undefined> {
    try {
      return toContainer(await this.docker.getContainer(idOrName).inspect());
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw dockerError(`inspect ${idOrName}`, err);
    }
  }

  async ping(): Promise<void> {
    await this.docker.ping();
  }
}

function dockerError(what: string, err: unknown): CodedError {
  return new CodedError(ErrorCode.dockerUnavailable, `Docker: ${what} failed: ${(err as Error).message}`, {
    cause: err,
  });
}

/** Dockerode connection options from a DOCKER_HOST-style URL. */
export function dockerConnection(dockerHost: string): Dockerode.DockerOptions {
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' };
}
