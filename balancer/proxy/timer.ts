/** Clears `timer` if set; returns undefined so callers write `this.timer = clearTimer(this.timer)`. */
export function clearTimer(timer: NodeJS.Timeout | undefined): undefined {
  if (timer !== undefined) clearTimeout(timer);
  return undefined;
}
