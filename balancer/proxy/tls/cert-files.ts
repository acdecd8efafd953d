// The --tls-cert/--tls-key pairs: loaded once at start (an error is fatal there: the caller exits 2
// naming the file), then re-read when the files change and on demand (SIGHUP → `reload()`).
// Change detection is a poll, not fs.watch: a watch on a path that is replaced by rename (certbot's
// symlink flip, Kubernetes' `..data` swap, write-temp-then-rename) silently follows the old inode.
// Every poll stats both paths (inode, size, mtime, ctime); only a different stat reads the files, and
// only different content (SHA-256) reloads. A cert manager writes the certificate and the key one after
// the other, so a poll may see the new certificate with the old key: a failing state is reported only
// once it has stayed the same for one more poll; until then, and after, the previous pair keeps serving.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { ErrorCode } from '../../../common/errors.js';
import type { Logger } from '../../../common/logger.js';
import { CertError, type CertInfo, type CertInput, type CertStore } from './cert-store.js';

export interface CertFilePair {
  readonly certFile: string;
  readonly keyFile: string;
}

export type CertFileEvent =
  | { readonly kind: 'loaded'; readonly pair: CertFilePair; readonly info: CertInfo; readonly reason: LoadReason }
  | { readonly kind: 'error'; readonly pair: CertFilePair; readonly error: CertError; readonly reason: LoadReason };
export type LoadReason = 'start' | 'change' | 'reload';

export interface CertFilesOptions {
  readonly store: CertStore;
  readonly pairs: readonly CertFilePair[];
  /** Poll period; at most 2 s so a change is served within 5 s even with the settle poll. Default 1 s. */
  readonly pollMs?: number;
  readonly logger?: Logger;
  /** Every load and every reported failure (after start): for metrics. */
  readonly onEvent?: (event: CertFileEvent) => void;
}

interface Failure {
  /** Content hash of the failing pair (or the read error): the same state is not reported twice. */
  readonly hash: string;
  readonly error: CertError;
  reported: boolean;
}

interface PairState {
  readonly pair: CertFilePair;
  readonly index: number;
  /** Stat signature seen by the last check. */
  sig: string;
  /** Content hash of the pair now serving. */
  loaded: string;
  failure: Failure | undefined;
}

const sigOf = (s: BigIntStats): string => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
const hashOf = (cert: string, key: string): string =>
  createHash('sha256').update(cert).update('\0').update(key).digest('hex');

function readError(file: string, err: unknown): CertError {
  const e = err as NodeJS.ErrnoException;
  return new CertError(ErrorCode.tlsFileRead, file, `cannot read: ${e.code ?? e.message}`, { cause: err });
}

async function statSig(file: string): Promise<string> {
  try {
    return sigOf(await stat(file, { bigint: true }));
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

export class CertFiles {
  private readonly states: PairState[];
  private readonly log: Logger | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Polls and reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private polling = false;

  constructor(private readonly options: CertFilesOptions) {
    this.states = options.pairs.map((pair, index) => ({ pair, index, sig: '', loaded: '', failure: undefined }));
    this.log = options.logger?.child({ component: 'tls-certs' });
  }

  /** Reads and installs every pair synchronously. Throws the first CertError (it names the file). */
  loadInitial(): readonly CertInfo[] {
    return this.states.map((st) => {
      const { certFile, keyFile } = st.pair;
      const sig = `${this.statNow(certFile)}|${this.statNow(keyFile)}`;
      const cert = this.readNow(certFile);
      const key = this.readNow(keyFile);
      const result = this.options.store.put(this.input(st, cert, key));
      if (!result.ok) throw result.error;
      st.sig = sig;
      st.loaded = hashOf(cert, key);
      this.log?.info(
        { name: certFile, dnsNames: result.info.dnsNames, notAfter: result.info.notAfter },
        'certificate loaded',
      );
      this.options.onEvent?.({ kind: 'loaded', pair: st.pair, info: result.info, reason: 'start' });
      return result.info;
    });
  }

  /** Starts polling (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    const ms = Math.min(Math.max(this.options.pollMs ?? 1000, 10), 2000);
    this.timer = setInterval(() => this.tick(), ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll now (tests; the timer calls this). Resolves with what it loaded or reported. */
  poll(): Promise<CertFileEvent[]> {
    return this.enqueue(() => this.check('change'));
  }

  /** Re-reads every pair now (SIGHUP). Failures are reported at once. */
  reload(): Promise<CertFileEvent[]> {
    return this.enqueue(() => this.check('reload'));
  }

  /** A timed poll, skipped while the previous one still runs (a hung filesystem must not pile them up). */
  private tick(): void {
    if (this.polling) return;
    this.polling = true;
    this.poll()
      .catch((err: unknown) => this.log?.error({ err }, 'certificate poll failed'))
      .finally(() => (this.polling = false));
  }

  private enqueue(run: () => Promise<CertFileEvent[]>): Promise<CertFileEvent[]> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async check(reason: 'change' | 'reload'): Promise<CertFileEvent[]> {
    const events: CertFileEvent[] = [];
    for (const st of this.states) {
      const event = await this.checkPair(st, reason);
      if (event) events.push(event);
    }
    return events;
  }

  private async checkPair(st: PairState, reason: 'change' | 'reload'): Promise<CertFileEvent | undefined> {
    const { certFile, keyFile } = st.pair;
    const sig = `${await statSig(certFile)}|${await statSig(keyFile)}`;
    const statChanged = sig !== st.sig;
    st.sig = sig;
    if (reason === 'change' && !statChanged) {
      // Nothing moved since the last poll: a failing state has settled, report it (once).
      return st.failure && !st.failure.reported ? this.report(st, st.failure, reason) : undefined;
    }
    let hash: string;
    let error: CertError;
    try {
      const cert = await readFile(certFile, 'utf8').catch((err: unknown) => Promise.reject(readError(certFile, err)));
      const key = await readFile(keyFile, 'utf8').catch((err: unknown) => Promise.reject(readError(keyFile, err)));
      hash = hashOf(cert, key);
      if (hash === st.loaded) {
        st.failure = undefined; // back to what serves (a reverted edit, or a touch)
        return undefined;
      }
      if (st.failure?.hash === hash) {
        // The same broken content again: settled for a poll, asked again on SIGHUP.
        return reason === 'reload' || !st.failure.reported ? this.report(st, st.failure, reason) : undefined;
      }
      const result = this.options.store.put(this.input(st, cert, key));
      if (result.ok) {
        st.loaded = hash;
        st.failure = undefined;
        const { dnsNames, notAfter } = result.info;
        this.log?.info({ name: certFile, dnsNames, notAfter, reason }, 'certificate reloaded');
        const event: CertFileEvent = { kind: 'loaded', pair: st.pair, info: result.info, reason };
        this.options.onEvent?.(event);
        return event;
      }
      error = result.error;
    } catch (err) {
      if (!(err instanceof CertError)) throw err;
      error = err;
      hash = `read:${err.message}`;
    }
    st.failure = { hash, error, reported: false };
    // On SIGHUP the operator asked: answer now. A poll waits for the state to settle (see the file comment).
    return reason === 'reload' ? this.report(st, st.failure, reason) : undefined;
  }

  private report(st: PairState, failure: Failure, reason: 'change' | 'reload'): CertFileEvent {
    failure.reported = true;
    const { error } = failure;
    this.log?.error(
      { err: error, code: error.code, name: st.pair.certFile, origin: error.origin, reason },
      'certificate not reloaded; the previous one keeps serving',
    );
    const event: CertFileEvent = { kind: 'error', pair: st.pair, error, reason };
    this.options.onEvent?.(event);
    return event;
  }

  private input(st: PairState, cert: string, key: string): CertInput {
    const { certFile, keyFile } = st.pair;
    return {
      slot: { kind: 'file', index: st.index },
      name: certFile,
      cert,
      key,
      certOrigin: certFile,
      keyOrigin: keyFile,
    };
  }

  private statNow(file: string): string {
    try {
      return sigOf(statSync(file, { bigint: true }));
    } catch (err) {
      throw readError(file, err);
    }
  }

  private readNow(file: string): string {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw readError(file, err);
    }
  }
}
