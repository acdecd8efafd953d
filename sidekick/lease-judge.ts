// Is the lease holding an entry of our node kept alive by another running sidekick (same --node: a
// cloned VM, or a host-wide plus a per-container sidekick), or left by a dead one (an earlier run
// killed with SIGKILL, whose lease lives on until its TTL)? A live holder's etcd3 client sends a
// keepalive every TTL/3, so its remaining TTL never drops far; a dead one's only counts down.
// One reading usually cannot tell them apart, two readings one keepalive period apart always can.
// Costs one LeaseTimeToLive per foreign lease, never a read of the registry.

export interface LeaseReading {
  /**
   * Remaining seconds as etcd reports them: whole seconds, truncated (so an overdue lease not revoked
   * yet reads 0); -1 when the lease is gone.
   */
  readonly ttl: number;
  /** The TTL the lease was granted with, in seconds. */
  readonly granted: number;
}

export type FirstLook = 'gone' | 'dead' | 'pending';
export type Verdict = 'live' | 'dead' | 'pending';

/**
 * A keepalive every granted/3 s keeps a live lease above 2/3 of its TTL, less a late keepalive and
 * etcd's rounding down. With less than a third left, nobody has renewed it for two periods: dead
 * (a holder that far behind loses its lease anyway). Anything else needs a second look.
 */
export function firstLook(r: LeaseReading): FirstLook {
  if (r.ttl < 0) return 'gone';
  return r.ttl * 3 < r.granted ? 'dead' : 'pending';
}

/**
 * How long to wait before the second reading: one keepalive period plus 3 s, which tolerates a
 * keepalive up to ~2 s late (a loaded host) without mistaking a live holder for a dead one.
 */
export function recheckDelayMs(granted: number): number {
  return (Math.ceil(granted / 3) + 3) * 1000;
}

/**
 * `elapsedS`: whole seconds between the first reading's answer and the second's request. A lease
 * nobody renews has then lost at least that much (the rounding cancels out for whole seconds, and
 * an overdue one reads 0); a renewed one has been reset to its full TTL in between (recheckDelayMs
 * waits long enough), so it reads more, as long as it had a second left.
 */
export function secondLook(first: LeaseReading, second: LeaseReading, elapsedS: number): 'gone' | 'live' | 'dead' {
  if (second.ttl < 0) return 'gone';
  return second.ttl > Math.max(0, first.ttl - elapsedS) ? 'live' : 'dead';
}

type State =
  | { readonly kind: 'pending'; readonly first: LeaseReading; readonly at: number; timer: NodeJS.Timeout }
  | { readonly kind: 'live'; timer: NodeJS.Timeout }
  /** Until `until` only: a lease judged dead that still holds entries after it would have run out was alive. */
  | { readonly kind: 'dead'; readonly until: number };

export interface LeaseJudgeOptions {
  readonly read: (lease: string) => Promise<LeaseReading>;
  /** A pending lease was judged, or a live one went away: the caller reconciles again. */
  readonly settled: (lease: string, verdict: 'live' | 'dead') => void;
  readonly now?: () => number;
}

export class LeaseJudge {
  private readonly states = new Map<string, State>();
  private readonly reading = new Map<string, Promise<Verdict>>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly opts: LeaseJudgeOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** The verdict for `lease`; reads it on first sight (one RPC, shared by concurrent callers), then from memory. */
  judge(lease: string): Promise<Verdict> {
    const known = this.states.get(lease);
    if (known?.kind === 'dead' && this.now() > known.until) this.states.delete(lease);
    else if (known) return Promise.resolve(known.kind);
    let reading = this.reading.get(lease);
    if (!reading) {
      reading = this.firstReading(lease).finally(() => this.reading.delete(lease));
      this.reading.set(lease, reading);
    }
    return reading;
  }

  private async firstReading(lease: string): Promise<Verdict> {
    const first = await this.opts.read(lease);
    const look = firstLook(first);
    if (look !== 'pending' || this.stopped) {
      this.markDead(lease, first.ttl);
      return 'dead';
    }
    const at = this.now();
    const timer = setTimeout(() => void this.recheck(lease), recheckDelayMs(first.granted));
    timer.unref();
    this.states.set(lease, { kind: 'pending', first, at, timer });
    return 'pending';
  }

  private async recheck(lease: string): Promise<void> {
    const state = this.states.get(lease);
    if (!state || state.kind === 'dead' || this.stopped) return;
    const sentAt = this.now();
    let second: LeaseReading;
    try {
      second = await this.opts.read(lease);
    } catch {
      // etcd unreachable: start over on the next reconcile rather than guess.
      this.states.delete(lease);
      return;
    }
    if (this.stopped || this.states.get(lease) !== state) return;
    const verdict =
      state.kind === 'pending'
        ? secondLook(state.first, second, Math.floor((sentAt - state.at) / 1000))
        : second.ttl >= 0
          ? 'live'
          : 'gone';
    if (verdict === 'live') {
      // Watch it: when its holder stops, its entries vanish with it and are ours to publish again.
      const timer = setTimeout(() => void this.recheck(lease), (second.ttl + 1) * 1000);
      timer.unref();
      this.states.set(lease, { kind: 'live', timer });
      if (state.kind === 'pending') this.opts.settled(lease, 'live');
      return;
    }
    this.markDead(lease, second.ttl);
    this.opts.settled(lease, 'dead');
  }

  /** Remembered as dead for as long as it could still exist; a wrong verdict then heals itself. */
  private markDead(lease: string, ttl: number): void {
    this.states.set(lease, { kind: 'dead', until: this.now() + (Math.max(ttl, 0) + 1) * 1000 });
  }

  /** Forgets leases no longer seen on any entry of ours (bounded memory). */
  retain(leases: ReadonlySet<string>): void {
    for (const [lease, state] of this.states) {
      if (leases.has(lease)) continue;
      if (state.kind !== 'dead') clearTimeout(state.timer);
      this.states.delete(lease);
    }
  }

  stop(): void {
    this.stopped = true;
    this.retain(new Set());
  }
}
