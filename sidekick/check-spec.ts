// Which active health check a service port asks for (pure): label `sidekick.check=<path>|tcp` with
// `sidekick.check.interval` / `sidekick.check.timeout`, or registrator's SERVICE_CHECK_HTTP,
// SERVICE_CHECK_TCP, SERVICE_CHECK_INTERVAL, SERVICE_CHECK_TIMEOUT and their SERVICE_<port>_CHECK_* forms.
// Each setting is looked up on its own, highest first: label SERVICE_<port>_CHECK_*, label sidekick.check*,
// label SERVICE_CHECK_*, env SERVICE_<port>_CHECK_*, env SERVICE_CHECK_*. Labels beat the environment
// (often baked into the image), and within each the per-port form beats the container-wide one.
import { validateCheck, type EntryCheck } from '../common/registry.js';
import type { Container, Protocol } from './container.js';

export interface CheckResult {
  readonly check: EntryCheck | undefined;
  /** Set when the container asked for a check that cannot be honoured; it is then published without one. */
  readonly warning: string | undefined;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

interface Found {
  readonly value: string;
  readonly source: string;
}

type Setting = 'INTERVAL' | 'TIMEOUT';

/** One setting (interval or timeout) from the highest source that has it. */
function first(c: Container, port: number, sidekickLabel: string, setting: Setting): Found | undefined {
  const perPort = `SERVICE_${port}_CHECK_${setting}`;
  const general = `SERVICE_CHECK_${setting}`;
  const order: Array<[Readonly<Record<string, string>>, string, 'label' | 'env']> = [
    [c.labels, perPort, 'label'],
    [c.labels, sidekickLabel, 'label'],
    [c.labels, general, 'label'],
    [c.env, perPort, 'env'],
    [c.env, general, 'env'],
  ];
  for (const [from, key, kind] of order) {
    const value = from[key];
    if (value !== undefined) return { value, source: `${kind} ${key}` };
  }
  return undefined;
}

type Kind = { readonly path: string } | { readonly tcp: true };

/**
 * The check kind: the highest level that names one decides. At one level, `sidekick.check` names
 * it alone; the registrator pair names it by HTTP=<path> or TCP=true (TCP=false counts as unset).
 */
function kind(c: Container, port: number): { kind: Kind; source: string } | { error: string } | undefined {
  const level = (from: Readonly<Record<string, string>>, prefix: string, where: string) => {
    const http = from[`${prefix}HTTP`];
    const tcp = from[`${prefix}TCP`];
    const tcpOn = tcp !== undefined && TRUE.has(tcp.trim().toLowerCase());
    if (tcp !== undefined && !tcpOn && !FALSE.has(tcp.trim().toLowerCase()))
      return { error: `${where} ${prefix}TCP=${JSON.stringify(tcp)} (expected true or false)` };
    if (http !== undefined && tcpOn) return { error: `both ${where} ${prefix}HTTP and ${where} ${prefix}TCP are set` };
    if (http !== undefined) return { kind: { path: http.trim() }, source: `${where} ${prefix}HTTP` };
    if (tcpOn) return { kind: { tcp: true as const }, source: `${where} ${prefix}TCP` };
    return undefined;
  };
  const sidekick = c.labels['sidekick.check'];
  return (
    level(c.labels, `SERVICE_${port}_CHECK_`, 'label') ??
    (sidekick !== undefined
      ? {
          kind: sidekick.trim().toLowerCase() === 'tcp' ? { tcp: true as const } : { path: sidekick.trim() },
          source: 'label sidekick.check',
        }
      : undefined) ??
    level(c.labels, 'SERVICE_CHECK_', 'label') ??
    level(c.env, `SERVICE_${port}_CHECK_`, 'env') ??
    level(c.env, 'SERVICE_CHECK_', 'env')
  );
}

export function resolveCheck(c: Container, port: number, protocol: Protocol): CheckResult {
  const found = kind(c, port);
  const interval = first(c, port, 'sidekick.check.interval', 'INTERVAL');
  const timeout = first(c, port, 'sidekick.check.timeout', 'TIMEOUT');
  const where = `container ${c.name} port ${port}/${protocol}`;
  if (found === undefined) {
    const stray = interval ?? timeout;
    if (stray === undefined) return { check: undefined, warning: undefined };
    return {
      check: undefined,
      warning: `${where}: ${stray.source} given without a check (sidekick.check or SERVICE_CHECK_HTTP/TCP); ignored`,
    };
  }
  if ('error' in found)
    return { check: undefined, warning: `${where}: invalid check: ${found.error}; published without a check` };
  if (protocol === 'udp') {
    return {
      check: undefined,
      warning: `${where}: ${found.source} ignored: checks apply to TCP ports only; published without a check`,
    };
  }
  const raw: Record<string, unknown> = { ...found.kind };
  if (interval !== undefined) raw.interval = interval.value.trim();
  if (timeout !== undefined) raw.timeout = timeout.value.trim();
  const decoded = validateCheck(raw);
  if (decoded.ok) return { check: decoded.value, warning: undefined };
  const from = [found, interval, timeout].flatMap((f) => (f ? [f.source] : [])).join(', ');
  return {
    check: undefined,
    warning: `${where}: invalid check from ${from}: ${decoded.error}; published without a check`,
  };
}
