// Which etcd revision the route table reflects, given what the two watchers (entries, routes) have
// shown. The table's `revision` R promises: every registry change at or below R is in the table.
//
// Per watcher we track `complete`: the revision up to which its prefix is known to be in the table.
// It rises with the events the watcher delivers (etcd orders one watcher's events) and with
// snapshots. Events alone are not enough: a watcher whose prefix is quiet (routes, while entries
// churn) delivers nothing, and taking the minimum of event revisions froze R at the last route
// change. What etcd tells us beyond events:
//  - A watcher is *synced* (etcd notifies it of each write as the write commits) when it was created
//    at or past the store's revision (the create response's header is below its start revision),
//    when a response's header equals its last event's revision (a live notification, or a catch-up
//    that reached the head), or on an empty response (a progress notification, which etcd sends only
//    to synced watchers). A response whose header is above its last event is a catch-up batch that
//    may be partial, so the watcher counts as unsynced until it proves otherwise again.
//  - Both watchers share one gRPC stream, and etcd queues a synced watcher's notification for
//    revision r before any response that reports a header ≥ r. So a synced watcher is complete up
//    to the highest header any response on the stream reported.
// One txn touching both prefixes is two responses, queued back to back; they can land in different
// socket reads. So a sibling's header counts only from the next flush on (`settle()`), by which time
// the event loop has polled the socket again. Residual risk: etcd's slow-watcher path (a full send
// queue parks a watcher and resends later) can reorder a parked watcher's response behind a
// sibling's newer one; R may then run ahead of that one change for the few ms until it arrives.
// Floors for skipping already-applied events stay event/snapshot based (RegistryWatch.applied), so
// this estimate can never cause a change to be dropped.
import type { KeyKind } from './registry-decoder.js';

const KINDS: readonly KeyKind[] = ['entry', 'route'];

export class WatchProgress {
  private readonly complete: Record<KeyKind, number> = { entry: 0, route: 0 };
  private readonly synced: Record<KeyKind, boolean> = { entry: false, route: false };
  /** Highest header revision reported on the stream (or read by a snapshot). */
  private heard = 0;
  /** `heard` as of the previous flush: what a sibling may rely on. */
  private settled = 0;

  /** A snapshot at `revision` is in the table. `rebuilt`: etcd went backwards, so forget every later revision. */
  snapshot(revision: number, rebuilt: boolean): void {
    const raise = (r: number): number => (rebuilt ? revision : Math.max(r, revision));
    for (const kind of KINDS) this.complete[kind] = raise(this.complete[kind]);
    this.heard = raise(this.heard);
    this.settled = raise(this.settled);
  }

  /** The watchers were cancelled: nothing is synced until new ones say so. */
  dropped(): void {
    for (const kind of KINDS) this.synced[kind] = false;
  }

  /** The create response: synced from the start iff the store had not passed the start revision. */
  created(kind: KeyKind, header: number, startRevision: number): void {
    this.synced[kind] = header < startRevision;
    this.heard = Math.max(this.heard, header);
  }

  /** One watch response: its header and the revision of its last event (undefined: no events). */
  response(kind: KeyKind, header: number, lastEvent: number | undefined): void {
    this.heard = Math.max(this.heard, header);
    if (lastEvent === undefined || lastEvent >= header) {
      this.synced[kind] = true;
      this.complete[kind] = Math.max(this.complete[kind], header, lastEvent ?? 0);
    } else {
      this.synced[kind] = false;
      this.complete[kind] = Math.max(this.complete[kind], lastEvent);
    }
  }

  /** The revision the table reflects: the least of what each watcher is known to have delivered. */
  revision(): number {
    let r = Infinity;
    for (const kind of KINDS)
      r = Math.min(r, this.synced[kind] ? Math.max(this.complete[kind], this.settled) : this.complete[kind]);
    return r;
  }

  /** Ends a flush: headers heard so far become usable for siblings. True if that would raise `revision()`. */
  settle(): boolean {
    const before = this.revision();
    this.settled = this.heard;
    return this.revision() > before;
  }
}
