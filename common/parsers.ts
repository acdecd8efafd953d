// Value parsers for options. Each throws an Error whose message says what was expected.
import { isIP } from 'node:net';

export function parseDurationMs(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new Error(`expected a duration such as 500ms, 10s or 1m, got ${JSON.stringify(raw)}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

export function durationAtLeast(minMs: number, maxMs = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const ms = parseDurationMs(raw);
    if (ms < minMs || ms > maxMs)
      throw new Error(`must be between ${minMs}ms and ${maxMs}ms, got ${JSON.stringify(raw)}`);
    return ms;
  };
}

export function parseBoolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new Error(`expected true or false, got ${JSON.stringify(raw)}`);
}

export function parseInteger(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw.trim());
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max)
      throw new Error(`expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
}

export function parseEnum<T extends string>(...allowed: readonly T[]) {
  return (raw: string): T => {
    if (!(allowed as readonly string[]).includes(raw))
      throw new Error(`expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw as T;
  };
}

export function parseNonEmpty(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw.trim();
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces). Port 0 picks a free port. */
export function parseListenAddress(raw: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`expected host:port such as 127.0.0.1:9090, got ${JSON.stringify(raw)}`);
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw new Error(`invalid IPv6 address in ${JSON.stringify(raw)}`);
  return Object.freeze({ host, port });
}

export function parseIp(raw: string): string {
  const v = raw.trim();
  if (isIP(v) === 0) throw new Error(`expected an IPv4 or IPv6 address, got ${JSON.stringify(raw)}`);
  return v;
}

/** Comma-separated etcd endpoints; a bare host:port gets http://. */
export function parseEndpoints(raw: string): readonly string[] {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new Error('expected at least one endpoint such as http://127.0.0.1:2379');
  return Object.freeze(
    list.map((e) => {
      const url = /^https?:\/\//.test(e) ? e : `http://${e}`;
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new Error(`invalid endpoint ${JSON.stringify(e)}`);
      }
      if (!parsed.port) throw new Error(`endpoint ${JSON.stringify(e)} needs a port`);
      return `${parsed.protocol}//${parsed.host}`;
    }),
  );
}

/** An etcd key prefix such as /services. */
export function parseKeyPrefix(raw: string): string {
  const v = raw.trim();
  if (!/^\/[A-Za-z0-9._\-/]*$/.test(v) || v.includes('//'))
    throw new Error(`expected a key prefix such as /services, got ${JSON.stringify(raw)}`);
  return v.length > 1 ? v.replace(/\/+$/, '') : v;
}
