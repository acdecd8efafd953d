// One lease per sidekick, every key attached to it: a crashed host's entries expire by themselves.
// etcd3 does not re-grant a lost lease; this session grants a fresh one on the next `id()` call,
// single-flight, and tells its owner about losses of an established lease so it can republish.
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../common/logger.js';

export class LeaseSession {
  private lease: Lease | undefined;
  private current: string | undefined;
  private granting: Promise<string> | undefined;
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
    /** Called when a lease that had been granted is lost (expired, revoked, or etcd wiped). */
    private readonly onLost: (err: Error) => void,
  ) {}

  /** The live lease id, granting a new lease when there is none. Rejects when etcd cannot grant. */
  id(): Promise<string> {
    if (this.closed) return Promise.reject(new Error('lease session closed'));
    if (this.current !== undefined) return Promise.resolve(this.current);
    this.granting ??= this.grant().finally(() => {
      this.granting = undefined;
    });
    return this.granting;
  }

  get leaseId(): string | undefined {
    return this.current;
  }

  private async grant(): Promise<string> {
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    let established = false;
    // Attached in the same tick as creation: etcd3 emits `lost` from its grant promise.
    lease.on('lost', (err: Error) => {
      if (this.lease !== lease) return; // `lost` can fire twice, or for a lease we already replaced
      this.lease = undefined;
      this.current = undefined;
      if (established && !this.closed) this.onLost(err);
    });
    try {
      const id = await lease.grant();
      established = true;
      this.current = id;
      this.log.info({ lease: id, ttl: this.ttlSeconds }, 'lease granted');
      return id;
    } catch (err) {
      if (this.lease === lease) this.lease = undefined;
      lease.release();
      throw err;
    }
  }

  /** Revokes the lease (etcd deletes every attached key at once) and stops keepalives. */
  async close(revokeTimeoutMs: number): Promise<boolean> {
    this.closed = true;
    const lease = this.lease;
    this.lease = undefined;
    this.current = undefined;
    if (!lease) return false;
    try {
      await lease.revoke({ deadline: Date.now() + revokeTimeoutMs });
      return true;
    } catch (err) {
      this.log.warn({ err }, 'lease revoke failed; entries will expire after the TTL');
      lease.release();
      return false;
    }
  }
}
