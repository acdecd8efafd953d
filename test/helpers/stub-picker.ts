// The picker the proxy edge tests use instead of the real ones (tested on their own in
// test/unit/balancer/proxy/pickers.test.ts): predictable order, and it still honours exclude,
// ejection and stickiness, which is what the proxy's retry and sticky paths depend on.
import type { PickerDeps } from '../../balancer/proxy/proxy.js';
import type { Picker } from '../../balancer/types.js';

/**
 * Round-robin over non-excluded, non-ejected backends (all non-excluded if every one is ejected);
 * the sticky preference wins when usable.
 */
export function stubPicker(deps: PickerDeps): Picker {
  let next = 0;
  return {
    pick(view, _policy, exclude, preferredId) {
      const usable = view.backends.filter((b) => !exclude.has(b.id));
      const healthy = usable.filter((b) => !deps.isEjected(b.id));
      const candidates = healthy.length > 0 ? healthy : usable;
      if (preferredId !== undefined) {
        const p = candidates.find((b) => b.id === preferredId);
        if (p !== undefined) return p;
      }
      return candidates.length === 0 ? undefined : candidates[next++ % candidates.length];
    },
  };
}
