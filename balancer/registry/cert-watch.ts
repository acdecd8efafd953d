// --tls-prefix: certificates kept in etcd, watched like the registry. One read of the prefix, then a
// watch from the next revision; any disconnect or watch error drops the watcher and starts over with
// a fresh read, which also deletes the names that vanished meanwhile (etcd3 would resume a watch from
// the server's current revision and skip events; see registry-watch.ts). The watch knows names and
// values only: the sink (the TLS edge's certificate store) decides whether a pair can be served, and
// keeps the previous certificate serving when it cannot.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { retryForever } from '../../common/backoff.js';
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { certName, type CertValue, decodeCertValue } from './cert-values.js';

export interface CertSink {
  /** A new or changed pair under `name`; `key` is the etcd key (named by errors). */
  put(name: string, value: CertValue, key: string): void;
  delete(name: string): void;
}

export interface CertWatchOptions {
  readonly client: Etcd3;
  /** --tls-prefix, without a trailing slash. */
  readonly prefix: string;
  readonly sink: CertSink;
  readonly log: Logger;
  /** A value that is not a certificate pair: logged once per (key, value), counted by the caller. */
  readonly onInvalid?: (key: string, reason: string) => void;
}

const RETRY = { initialMs: 200, maxMs: 5_000 };

export class CertWatch {
  private readonly base: string;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  /** name → mod revision of what was handed to the sink (valid or not, so a value is judged once). */
  private readonly seen = new Map<string, number>();
  private watcher: Watcher | undefined;
  private generation = 0;
  private running: Promise<void> | undefined;

  constructor(private readonly opts: CertWatchOptions) {
    this.base = opts.prefix === '/' ? '/' : `${opts.prefix}/`;
    this.log = opts.log.child({ component: 'cert-watch' });
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.dropWatcher();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const revision = await retryForever(() => this.readAll(), {
        ...RETRY,
        signal: this.abort.signal,
        onError: (err, attempt, delayMs) =>
          this.log.warn(
            { err, attempt, delayMs, code: ErrorCode.etcdUnavailable },
            'cannot read certificates from etcd',
          ),
      });
      if (revision === undefined) return;
      await this.watchFrom(revision + 1);
    }
  }

  /** Reads the prefix; applies it (deleting names no longer there); returns the read's revision. */
  private async readAll(): Promise<number> {
    const res = await this.opts.client.getAll().prefix(this.base).exec();
    const present = new Set<string>();
    for (const kv of res.kvs) {
      const name = this.apply(kv);
      if (name !== undefined) present.add(name);
    }
    for (const name of [...this.seen.keys()]) {
      if (!present.has(name)) this.remove(name);
    }
    return Number(res.header.revision);
  }

  /** Resolves once the watch is lost (then the loop re-reads) or stopped. */
  private watchFrom(revision: number): Promise<void> {
    const gen = ++this.generation;
    return new Promise<void>((resolve) => {
      const signal = this.abort.signal;
      const stopped = (): void => resolve();
      const lost = (err: unknown): void => {
        if (gen !== this.generation) return;
        if (!signal.aborted) this.log.warn({ err }, 'certificate watch interrupted; re-reading');
        signal.removeEventListener('abort', stopped); // one listener per watch, not one per reconnect
        this.dropWatcher();
        resolve();
      };
      signal.addEventListener('abort', stopped, { once: true });
      // `.watcher()`: our listeners are on before anything is emitted (see registry-watch.ts).
      const w = this.opts.client.watch().prefix(this.base).startRevision(String(revision)).watcher();
      this.watcher = w;
      w.on('put', (kv: IKeyValue) => gen === this.generation && this.apply(kv));
      w.on('delete', (kv: IKeyValue) => {
        if (gen !== this.generation) return;
        const name = certName(kv.key.toString(), this.base);
        if (name !== undefined) this.remove(name);
      });
      w.on('disconnected', lost);
      w.on('error', lost);
    });
  }

  /** One key's current value to the sink; the name it stands for, if it is a certificate key. */
  private apply(kv: IKeyValue): string | undefined {
    const key = kv.key.toString();
    const name = certName(key, this.base);
    if (name === undefined) {
      this.invalid(key, 'not <prefix>/<name> (one path segment)');
      return undefined;
    }
    const revision = Number(kv.mod_revision);
    if (this.seen.get(name) === revision) return name;
    this.seen.set(name, revision);
    const decoded = decodeCertValue(kv.value);
    if (!decoded.ok) {
      this.invalid(key, decoded.reason);
      return name;
    }
    this.opts.sink.put(name, decoded.value, key);
    return name;
  }

  private remove(name: string): void {
    this.seen.delete(name);
    this.opts.sink.delete(name);
  }

  private invalid(key: string, reason: string): void {
    this.log.warn({ key, reason, code: ErrorCode.tlsCert }, 'certificate value in etcd skipped');
    this.opts.onInvalid?.(key, reason);
  }

  private dropWatcher(): void {
    this.generation++;
    const w = this.watcher;
    this.watcher = undefined;
    w?.cancel().catch((err: unknown) => this.log.debug({ err }, 'watcher cancel failed'));
  }
}
