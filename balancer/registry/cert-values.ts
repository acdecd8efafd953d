// The etcd contract of --tls-prefix, pure: key `<prefix>/<name>`, value `{"cert": "<PEM>", "key": "<PEM>"}`.
// Whether the PEMs make a servable pair is the certificate store's question (proxy/tls/cert-store.ts);
// here only the shape is checked, so a value that cannot be a certificate never reaches it.

export interface CertValue {
  readonly cert: string;
  readonly key: string;
}

export type DecodedCert =
  { readonly ok: true; readonly value: CertValue } | { readonly ok: false; readonly reason: string };

/** Above this a value is refused unread: a chain of a few certificates and a key is a few KiB. */
export const MAX_CERT_VALUE_BYTES = 256 * 1024;

/** `<base><name>` → name; undefined for the base itself, nested keys and names that are not one path segment. */
export function certName(key: string, base: string): string | undefined {
  if (!key.startsWith(base)) return undefined;
  const name = key.slice(base.length);
  if (name === '' || name.includes('/') || name.length > 253) return undefined;
  return name;
}

function pem(v: unknown, marker: RegExp): string | undefined {
  return typeof v === 'string' && marker.test(v) ? v : undefined;
}

const CERT_MARKER = /-----BEGIN CERTIFICATE-----/;
const KEY_MARKER = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

export function decodeCertValue(raw: Buffer | string): DecodedCert {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_CERT_VALUE_BYTES) return { ok: false, reason: `value larger than ${MAX_CERT_VALUE_BYTES} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString());
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  const o = parsed as Record<string, unknown>;
  const cert = pem(o.cert, CERT_MARKER);
  if (cert === undefined) return { ok: false, reason: '"cert" must be a PEM string with a CERTIFICATE block' };
  const key = pem(o.key, KEY_MARKER);
  if (key === undefined) return { ok: false, reason: '"key" must be a PEM string with a PRIVATE KEY block' };
  return { ok: true, value: { cert, key } };
}
