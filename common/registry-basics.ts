// The primitives of the registry contract that entries and routes share: the decode result, names,
// hosts, prefixes and the first step of reading any stored JSON value. Kept apart from registry.ts
// so that the route modules can use them while registry.ts itself uses the routes (entries declare
// routes), without an import cycle. registry.ts re-exports all of it.
import { isIP } from 'node:net';

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** A value larger than this is rejected: no legitimate entry comes close, and huge values are an attack. */
export const MAX_VALUE_BYTES = 16 * 1024;
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** Normalises a prefix: leading slash, no trailing slash. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

export function isValidServiceName(name: string): boolean {
  return SERVICE.test(name);
}

export function isValidHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.');
  // A name made only of digits and dots is a malformed IPv4 address, not a DNS name.
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => DNS_LABEL.test(l));
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The first step of decoding any stored value (entries and routes alike): refuse oversized values
 * before parsing them, then parse JSON. What the JSON must look like is the caller's to validate.
 */
export function parseJsonValue(raw: string | Buffer): Decoded<unknown> {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_VALUE_BYTES) return { ok: false, error: `value larger than ${MAX_VALUE_BYTES} bytes` };
  try {
    return { ok: true, value: JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8')) as unknown };
  } catch {
    return { ok: false, error: 'value is not valid JSON' };
  }
}
