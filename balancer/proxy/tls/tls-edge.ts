// The HTTPS side of the balancer as one unit: the certificate store, the watched certificate files
// and the HTTP/2 + HTTP/1.1 listener, built from the --tls-* options. Construction loads every file
// pair and throws the first CertError (main exits 2 naming the file); later failures are logged and
// counted while the previous certificate keeps serving.
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../common/logger.js';
import type { ListenAddress } from '../../../common/parsers.js';
import { CertFiles, type CertFileEvent, type CertFilePair } from './cert-files.js';
import { CertStore, type CertInfo } from './cert-store.js';
import { type EdgeRequest, type EdgeResponse, type HandshakeResult, TlsListener } from './tls-listener.js';

export interface TlsEdgeOptions {
  readonly listen: ListenAddress;
  readonly pairs: readonly CertFilePair[];
  readonly log: Logger;
  readonly onRequest: (req: EdgeRequest, res: EdgeResponse) => void;
  readonly onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  readonly onHandshake?: (result: HandshakeResult) => void;
  /** A certificate file change or SIGHUP reload failed: the previous certificate keeps serving. */
  readonly onCertError?: () => void;
  /** 48 bytes shared by every worker, so a session ticket resumes on any of them. */
  readonly ticketKeys?: Buffer;
  readonly keepAliveTimeoutMs: number;
}

/** The n-th --tls-key with the n-th --tls-cert (the config checked that the counts match). */
export function certFilePairs(certs: readonly string[], keys: readonly string[]): CertFilePair[] {
  return certs.map((certFile, i) => ({ certFile, keyFile: keys[i]! }));
}

/** Loads every pair into a throwaway store: throws the first CertError (its `origin` names the file). */
export function checkCertificateFiles(pairs: readonly CertFilePair[]): void {
  new CertFiles({ store: new CertStore(), pairs }).loadInitial();
}

export class TlsEdge {
  readonly store = new CertStore();
  private readonly files: CertFiles;
  private readonly listener: TlsListener;

  constructor(private readonly opts: TlsEdgeOptions) {
    const onCertError = opts.onCertError;
    this.files = new CertFiles({
      store: this.store,
      pairs: opts.pairs,
      logger: opts.log,
      onEvent: (e: CertFileEvent) => e.kind === 'error' && onCertError?.(),
    });
    this.files.loadInitial();
    this.listener = new TlsListener({
      store: this.store,
      onRequest: opts.onRequest,
      onUpgrade: opts.onUpgrade,
      ...(opts.onHandshake ? { onHandshake: opts.onHandshake } : {}),
      ...(opts.ticketKeys ? { ticketKeys: opts.ticketKeys } : {}),
      keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
    });
  }

  async start(): Promise<AddressInfo> {
    const addr = await this.listener.listen(this.opts.listen);
    this.files.start();
    return addr;
  }

  /** SIGHUP: re-read every certificate file now. */
  async reload(): Promise<void> {
    await this.files.reload();
  }

  /** A pair from etcd (--tls-prefix). One that cannot be served is logged and counted; the previous keeps serving. */
  putEtcd(name: string, cert: string, key: string, etcdKey: string): void {
    const input = { slot: { kind: 'etcd', name } as const, name, cert, key, certOrigin: etcdKey, keyOrigin: etcdKey };
    const result = this.store.put(input);
    if (result.ok) {
      if (result.changed) {
        const { dnsNames, notAfter } = result.info;
        this.opts.log.info({ name, key: etcdKey, dnsNames, notAfter }, 'certificate from etcd loaded');
      }
      return;
    }
    const { error } = result;
    this.opts.log.error(
      { err: error, code: error.code, name, origin: error.origin },
      'certificate from etcd not loaded; the previous one (if any) keeps serving',
    );
    this.opts.onCertError?.();
  }

  /** The etcd key was deleted: its certificate is no longer served. */
  deleteEtcd(name: string): void {
    if (this.store.delete({ kind: 'etcd', name })) this.opts.log.info({ name }, 'certificate from etcd removed');
  }

  certificates(): readonly CertInfo[] {
    return this.store.list();
  }

  /** Stops accepting; resolves once every TLS connection ended (see closeAllConnections). */
  close(): Promise<void> {
    this.files.stop();
    return this.listener.close();
  }

  closeAllConnections(): void {
    this.listener.closeAllConnections();
  }
}
