// The Docker edge: an event stream that reconnects forever, plus list and inspect.
// Events are only hints; callers re-inspect. After every (re)connect the caller re-lists,
// because Docker's event replay is a lossy 256-event ring that a daemon restart empties.
import type Dockerode from 'dockerode';
import { Backoff, sleep } from '../common/backoff.js';
import { CodedError, ErrorCode } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { toContainer, type Container } from './container.js';
import { eventFilters, matchesFollowed, parseEventLine, type DockerEvent } from './docker-events.js';

export type { DockerEvent } from './docker-events.js';

export interface DockerHandlers {
  onEvent(e: DockerEvent): void;
  /** The event stream is (re)established: everything before it must be re-read. */
  onConnected(): void;
  onDisconnected(err: unknown): void;
}

export class DockerSource {
  private readonly abort = new AbortController();
  private stream: NodeJS.ReadableStream | undefined;
  /** Per-container mode: the followed container's id, once an inspect has seen it. */
  private followedId: string | undefined;

  constructor(
    private readonly docker: Dockerode,
    private readonly log: Logger,
    /** Per-container mode: only this container's events. */
    private readonly only: string | undefined,
    /** `--docker-timeout`: the deadline of every Docker API call except the open event stream. */
    private readonly timeoutMs: number,
  ) {}

  /** Runs the event loop in the background until stop(). */
  start(h: DockerHandlers): void {
    void this.loop(h);
  }

  /** Ends the event stream and aborts every Docker call in flight. */
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

  /**
   * One connection: resolves when the stream ends, rejects when it fails. Only opening it has a
   * deadline: an open stream is idle for as long as nothing happens (docker-modem's own `timeout`
   * would kill it, which is why the client is built without one).
   */
  private async follow(h: DockerHandlers, connected: () => void): Promise<void> {
    const stream = await this.call('open the event stream', (abortSignal) =>
      this.docker.getEvents({ filters: eventFilters(), abortSignal }),
    );
    this.stream = stream;
    if (this.abort.signal.aborted) return void (stream as unknown as { destroy?: () => void }).destroy?.();
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
    const e = parseEventLine(line);
    if (e === 'invalid') return void this.log.warn({ line: line.slice(0, 200) }, 'unparseable Docker event');
    if (e === undefined) return;
    if (this.only !== undefined && !matchesFollowed(e, this.only, this.followedId)) return;
    h.onEvent(e);
  }

  /**
   * Runs one Docker API call with the deadline. On expiry the request is aborted (its socket
   * closed) and the call fails as a Docker error, so the caller's work moves on.
   */
  private async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.abort.signal.aborted) throw dockerError(what, new Error('stopped'));
    const ctl = new AbortController();
    const onStop = (): void => ctl.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        ctl.abort();
        reject(dockerError(what, new Error(`timed out after ${this.timeoutMs} ms (--docker-timeout)`)));
      }, this.timeoutMs);
    });
    const work = fn(ctl.signal);
    work.catch(() => undefined); // after a timeout its (abort) rejection has no one to tell
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  /** Ids of running (and paused) containers. */
  async list(): Promise<string[]> {
    try {
      const list = await this.call('list containers', (abortSignal) =>
        this.docker.listContainers({ all: false, abortSignal }),
      );
      return list.map((c) => c.Id).sort();
    } catch (err) {
      throw dockerError('list containers', err);
    }
  }

  /** The container, or undefined when it no longer exists. */
  async inspect(idOrName: string): Promise<Container | undefined> {
    let c: Container;
    try {
      const info = await this.call(`inspect ${idOrName}`, (abortSignal) =>
        this.docker.getContainer(idOrName).inspect({ abortSignal }),
      );
      c = toContainer(info);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw dockerError(`inspect ${idOrName}`, err);
    }
    if (idOrName === this.only) this.followedId = c.id;
    return c;
  }
}

function dockerError(what: string, err: unknown): CodedError {
  if (err instanceof CodedError) return err;
  return new CodedError(ErrorCode.dockerUnavailable, `Docker: ${what} failed: ${(err as Error).message}`, {
    cause: err,
  });
}

/** Dockerode connection options from a DOCKER_HOST-style URL. */
export function dockerConnection(dockerHost: string): Dockerode.DockerOptions {
  // timeout 0: docker-modem would otherwise take DOCKER_CLIENT_TIMEOUT from the environment and
  // apply it to the event stream too. Deadlines are ours (DockerSource.call).
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost, timeout: 0 };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length), timeout: 0 };
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  return { host: url.hostname, port: Number(url.port || 2375), protocol, timeout: 0 };
}
