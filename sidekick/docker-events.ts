// Docker event stream lines → the events the sidekick reacts to (pure). Container lifecycle events,
// plus network connect/disconnect, which change a container's addresses without any container event.

export interface DockerEvent {
  /** The container concerned (for network events: the container that was (dis)connected). */
  readonly id: string;
  readonly action: string;
  /** When Docker emitted it (ms since the epoch). */
  readonly time: number;
  readonly attributes: Readonly<Record<string, string>>;
}

// Server-side filter: health probes also emit exec_* events that we never want to see.
const CONTAINER_ACTIONS = [
  'start',
  'restart',
  'die',
  'stop',
  'kill',
  'pause',
  'unpause',
  'oom',
  'destroy',
  'health_status',
  'rename',
];
const NETWORK_ACTIONS = ['connect', 'disconnect'];

/**
 * The `filters` of the events request. Docker's `container` filter also drops every network event
 * (their actor is the network), so a per-container sidekick filters on its side (`matchesFollowed`).
 */
export function eventFilters(): Record<string, string[]> {
  return { type: ['container', 'network'], event: [...CONTAINER_ACTIONS, ...NETWORK_ACTIONS] };
}

interface RawEvent {
  Type?: string;
  timeNano?: number;
  time?: number;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** One NDJSON line → an event, `undefined` for events of no interest, or 'invalid' for garbage. */
export function parseEventLine(line: string): DockerEvent | undefined | 'invalid' {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return 'invalid';
  }
  if (typeof raw !== 'object' || raw === null || !raw.Action) return undefined;
  const time =
    raw.timeNano !== undefined ? Math.floor(raw.timeNano / 1e6) : raw.time !== undefined ? raw.time * 1000 : Date.now();
  const attrs = raw.Actor?.Attributes ?? {};
  if (raw.Type === 'network') {
    const container = attrs.container;
    if (!container || !NETWORK_ACTIONS.includes(raw.Action)) return undefined;
    return { id: container, action: raw.Action, time, attributes: { network: attrs.name ?? '' } };
  }
  const id = raw.Actor?.ID;
  if (raw.Type !== 'container' || !id) return undefined;
  // "health_status: healthy" → action "health_status", attribute health_status=healthy
  const [action = raw.Action, detail] = raw.Action.split(': ');
  return { id, action, time, attributes: { ...attrs, ...(detail !== undefined ? { [action]: detail } : {}) } };
}

/**
 * Per-container mode: is this event about the followed container (`only`: a name, a full id or an id
 * prefix of ≥ 12 characters)? `knownId` is its id once an inspect has seen it: network events carry
 * only the id, never the name.
 */
export function matchesFollowed(e: DockerEvent, only: string, knownId: string | undefined): boolean {
  if (e.id === knownId || e.id === only || e.attributes.name === only) return true;
  return only.length >= 12 && e.id.startsWith(only);
}
