// What to do with one registry key of our node (pure): desired value vs what etcd holds there.
// The rule: adopt or delete only what no other live lease holds. Every write is conditional on the
// key's mod revision as seen, so a decision never overwrites a change it did not see.
import type { Verdict } from './lease-judge.js';

export interface Observed {
  readonly value: string;
  /** Lease id the key hangs on; '0' = none (written by hand). */
  readonly lease: string;
  /** The key's mod revision, for the conditional write. */
  readonly mod: string;
}

export type Action =
  /** Already right (or nothing there and nothing wanted). */
  | 'none'
  /** Write the desired value on our lease. */
  | 'put'
  | 'delete'
  /** Another live sidekick of our node holds it: leave it, and do not claim it while that lease lives. */
  | 'yield'
  /** Held by a lease not judged yet: leave it for now, decide when the judge has. */
  | 'wait'
  /** Not ours to touch and not wanted: drop it from what we hold. */
  | 'forget';

export interface Situation {
  /** The value this sidekick wants there; undefined = it wants no entry. */
  readonly want: string | undefined;
  /** What etcd holds; undefined = nothing. */
  readonly seen: Observed | undefined;
  /** Our lease id. */
  readonly ours: string;
  /** The judge's verdict on `seen.lease` when it is neither ours nor '0'. */
  readonly verdict: Verdict | undefined;
  /** `seen.value` is an entry of this sidekick's node (and followed container): ours to delete. */
  readonly mine: boolean;
}

export function decide(s: Situation): Action {
  const { want, seen } = s;
  if (seen === undefined) return want === undefined ? 'none' : 'put';
  if (seen.lease === s.ours) return want === undefined ? 'delete' : seen.value === want ? 'none' : 'put';
  // Someone else's entry (another node's, or no longer an entry at all) that we do not want: not ours.
  if (want === undefined && !s.mine) return 'forget';
  if (seen.lease === '0' || s.verdict === 'dead') return want === undefined ? 'delete' : 'put';
  return s.verdict === 'live' ? 'yield' : 'wait';
}
