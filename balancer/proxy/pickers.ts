// Backend selection. Strategies are tiny functions in a map (as in fabio); their state and
// randomness are injected so tests can replay exact sequences.
import type { Backend, LbPolicy, Picker, ServiceView } from '../types.js';

/** The `exclude` of a first attempt: nothing tried yet. */
export const NO_EXCLUDE: ReadonlySet<string> = new Set();

export interface PickerOptions {
  /** [0, 1), defaults to Math.random. */
  readonly random?: () => number;
  /** Passive health: true while the backend is ejected after failures. */
  readonly isEjected: (id: string) => boolean;
  /** Requests currently in flight to the backend. */
  readonly inflight: (id: string) => number;
  /**
   * A pick had to take an unhealthy or ejected backend: every usable one of the service was, the
   * ones this request already tried included (a retry past healthy backends gets none: undefined).
   */
  readonly onFailOpen?: (service: string) => void;
}

/**
 * Smooth weighted round-robin (nginx): every candidate's current weight grows by its weight, the
 * largest wins (first in id order on ties) and pays back the total. Over a cycle each backend is
 * chosen in proportion to its weight, interleaved rather than in bursts: {a:5,b:1,c:1} → a a b a c a a.
 * Candidates skipped this time (excluded, ejected) keep their current weight, as in nginx.
 */
export function smoothWeightedPick(current: Map<string, number>, candidates: readonly Backend[]): Backend | undefined {
  let total = 0;
  let best: Backend | undefined;
  let bestWeight = 0;
  for (const backend of candidates) {
    const weight = backend.entry.weight;
    const value = (current.get(backend.id) ?? 0) + weight;
    current.set(backend.id, value);
    total += weight;
    if (best === undefined || value > bestWeight) {
      best = backend;
      bestWeight = value;
    }
  }
  if (best !== undefined) current.set(best.id, bestWeight - total);
  return best;
}

/**
 * Power of two choices: two distinct random candidates, the less loaded wins (the first drawn on a
 * tie). Load is (inflight + 1) / weight, Envoy's weighted least-request with bias 1: with equal
 * weights it is plain "fewer in flight", and among idle backends the heavier one wins, which bare
 * inflight / weight (0 for all idle backends) could not express.
 */
export function powerOfTwoPick(
  candidates: readonly Backend[],
  random: () => number,
  inflight: (id: string) => number,
): Backend | undefined {
  const n = candidates.length;
  if (n <= 1) return candidates[0];
  const i = Math.min(Math.floor(random() * n), n - 1);
  let j = Math.min(Math.floor(random() * (n - 1)), n - 2);
  if (j >= i) j++; // draw from the n-1 others, so the two are always distinct
  const a = candidates[i];
  const b = candidates[j];
  if (a === undefined || b === undefined) return a ?? b;
  const load = (x: Backend): number => (inflight(x.id) + 1) / x.entry.weight;
  return load(b) < load(a) ? b : a;
}

interface RoundRobinState {
  /** The view `current` was last reconciled with: a new view means backends may have left. */
  seen: ServiceView;
  readonly current: Map<string, number>;
}

export function createPicker(opts: PickerOptions): Picker {
  const random = opts.random ?? Math.random;
  // Keyed by service name, not by view, so the rotation survives table swaps (new view objects).
  // Bounded by the number of service names ever seen.
  const rrState = new Map<string, RoundRobinState>();

  function stateFor(view: ServiceView): Map<string, number> {
    const state = rrState.get(view.name);
    if (state === undefined) {
      const current = new Map<string, number>();
      rrState.set(view.name, { seen: view, current });
      return current;
    }
    if (state.seen !== view) {
      // Forget backends that left, so a returning id starts fresh and the map cannot grow forever.
      const ids = new Set(view.backends.map((b) => b.id));
      for (const id of state.current.keys()) if (!ids.has(id)) state.current.delete(id);
      state.seen = view;
    }
    return state.current;
  }

  const pickers: Record<LbPolicy, (view: ServiceView, candidates: readonly Backend[]) => Backend | undefined> = {
    'round-robin': (view, candidates) => smoothWeightedPick(stateFor(view), candidates),
    'least-request': (_view, candidates) => powerOfTwoPick(candidates, random, opts.inflight),
  };

  return {
    pick(view, policy, exclude, preferredId) {
      // One pass, no per-call closures: this runs for every proxied request. The active check's
      // verdict is a field of the backend object (set off the hot path), ejection a lookup.
      let candidates: Backend[] = [];
      let anyUsable = false;
      let anyHealthy = false;
      for (const b of view.backends) {
        if (!eligible(b)) continue;
        const healthy = !b.health.unhealthy && !opts.isEjected(b.id);
        // Panic mode is the service's state, whatever this request tried: tried ones count too.
        if (healthy) anyHealthy = true;
        if (exclude.has(b.id)) continue;
        anyUsable = true;
        if (healthy) candidates.push(b);
      }
      if (!anyUsable) return undefined;
      if (candidates.length === 0) {
        // A retry that tried the healthy ones already: no unhealthy backend gets a request for it.
        if (anyHealthy) return undefined;
        // Panic mode (Envoy's panic threshold at its extreme): when every usable backend is unhealthy
        // or ejected, the checks are more likely wrong than all of them dead (a shared dependency of
        // their health endpoints, a network blip), and trying one beats a sure 503.
        candidates = view.backends.filter((b) => eligible(b) && !exclude.has(b.id));
        opts.onFailOpen?.(view.name);
      }
      if (preferredId !== undefined) {
        const preferred = candidates.find((b) => b.id === preferredId);
        if (preferred !== undefined) return preferred;
      }
      return pickers[policy](view, candidates);
    },
  };
}

/** Weight above 0 and not draining: the backends that take requests, healthy or not. */
function eligible(b: Backend): boolean {
  return b.entry.weight > 0 && !b.entry.draining;
}
