// The certificates the TLS listener serves, chosen per handshake by SNI. A (cert, key) pair is parsed and
// validated once per load (X509Certificate, the key check, OpenSSL's own acceptance) into one SecureContext,
// so a handshake costs a Map lookup or two. Entries come from files (--tls-cert/--tls-key, by flag
// position) and from etcd (by name). A replacement that does not validate leaves the old entry serving.
//
// Names: the subjectAltName DNS entries. The subject CN is used only when the certificate has no
// subjectAltName extension at all (RFC 6125 §6.4.4; browsers ignore CN, but a legacy certificate should
// still be *selectable*); a SAN with only IP entries gives no names (it can still be the default).
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { CodedError, ErrorCode, type ErrorCodeValue } from '../../../common/errors.js';

/** TLS 1.0/1.1 are deprecated (RFC 8996). Node's default is the same; it is pinned so it cannot drift. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** A pair that cannot be served. `origin` is what the operator must fix: a file path or an etcd key. */
export class CertError extends CodedError {
  constructor(
    code: ErrorCodeValue,
    readonly origin: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${origin}: ${message}`, options);
    this.name = 'CertError';
  }
}

/** Where an entry lives; also its place in the order: files by flag position, then etcd names sorted. */
export type CertSlot =
  { readonly kind: 'file'; readonly index: number } | { readonly kind: 'etcd'; readonly name: string };

export interface CertInput {
  readonly slot: CertSlot;
  /** Shown in metrics (`{name}`) and the dashboard: the certificate file's path, or the etcd name. */
  readonly name: string;
  readonly cert: string;
  readonly key: string;
  /** Named by errors about the certificate and about the key: the file paths, or the etcd key twice. */
  readonly certOrigin: string;
  readonly keyOrigin: string;
}

export interface CertInfo {
  readonly name: string;
  readonly slot: CertSlot;
  /** Lower case, without a trailing dot; wildcards as written (`*.example.com`). */
  readonly dnsNames: readonly string[];
  readonly namesFrom: 'san' | 'cn' | 'none';
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  /** Certificates in the PEM: 1 = the leaf alone. */
  readonly chainLength: number;
}

export interface LoadedCert {
  readonly info: CertInfo;
  readonly context: SecureContext;
}

export type PutResult =
  | { readonly ok: true; readonly changed: boolean; readonly info: CertInfo }
  | { readonly ok: false; readonly error: CertError };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const SAN_ENTRY = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const DNS_NAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

function normalizeName(raw: string): string {
  const n = raw.trim().toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** The names a certificate is selected by (see the file comment for the CN rule). */
export function certNames(x509: X509Certificate): Pick<CertInfo, 'dnsNames' | 'namesFrom'> {
  const san = x509.subjectAltName;
  if (san !== undefined) {
    const names = new Set<string>();
    // Node quotes (JSON) values with special characters; a quoted DNS name is not a hostname anyway.
    for (const m of san.matchAll(SAN_ENTRY)) {
      const value = m[2] ?? '';
      if (m[1] !== 'DNS' || value.startsWith('"')) continue;
      const n = normalizeName(value);
      if (DNS_NAME.test(n)) names.add(n);
    }
    return { dnsNames: [...names], namesFrom: 'san' };
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1];
  const n = cn === undefined ? '' : normalizeName(cn);
  return DNS_NAME.test(n) ? { dnsNames: [n], namesFrom: 'cn' } : { dnsNames: [], namesFrom: 'none' };
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Validates a pair and builds its SecureContext. Throws CertError naming the origin at fault. */
export function loadCert(input: CertInput): LoadedCert {
  const blocks = input.cert.match(PEM_CERT) ?? [];
  if (blocks.length === 0)
    throw new CertError(ErrorCode.tlsCert, input.certOrigin, 'no PEM certificate (BEGIN CERTIFICATE) found');
  const chain = blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      const what = blocks.length > 1 ? `certificate ${i + 1} of ${blocks.length}` : 'the certificate';
      throw new CertError(ErrorCode.tlsCert, input.certOrigin, `${what} does not parse: ${message(err)}`, {
        cause: err,
      });
    }
  });
  const leaf = chain[0] as X509Certificate;
  let key: KeyObject;
  try {
    key = createPrivateKey(input.key);
  } catch (err) {
    // OpenSSL's error for a missing passphrase varies by version ("interrupted or cancelled"): read the PEM.
    const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(input.key);
    const why = encrypted ? 'is encrypted (give an unencrypted key)' : 'does not parse';
    throw new CertError(ErrorCode.tlsKey, input.keyOrigin, `private key ${why}: ${message(err)}`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) {
    const other = input.keyOrigin === input.certOrigin ? 'its key' : input.keyOrigin;
    throw new CertError(ErrorCode.tlsKeyMismatch, input.certOrigin, `the certificate does not match ${other}`);
  }
  let context: SecureContext;
  try {
    // Only the certificate blocks: a combined file may also hold the key or parameters.
    context = createSecureContext({ cert: blocks.join('\n'), key: input.key, minVersion: TLS_MIN_VERSION });
  } catch (err) {
    throw new CertError(ErrorCode.tlsCert, input.certOrigin, `OpenSSL refuses the pair: ${message(err)}`, {
      cause: err,
    });
  }
  const info: CertInfo = Object.freeze({
    name: input.name,
    slot: input.slot,
    ...certNames(leaf),
    subject: leaf.subject,
    issuer: leaf.issuer,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint256: leaf.fingerprint256,
    chainLength: chain.length,
  });
  return Object.freeze({ info, context });
}

interface Entry {
  readonly loaded: LoadedCert;
  readonly cert: string;
  readonly key: string;
}

/** The value a handshake reads: built whole on each change and swapped in one assignment. */
interface CertIndex {
  readonly ordered: readonly Entry[];
  readonly exact: ReadonlyMap<string, LoadedCert>;
  /** `*.example.com` under the key `example.com`. */
  readonly wildcard: ReadonlyMap<string, LoadedCert>;
}

const slotId = (s: CertSlot): string => (s.kind === 'file' ? `file:${s.index}` : `etcd:${s.name}`);

function compareSlots(a: CertSlot, b: CertSlot): number {
  if (a.kind === 'file' && b.kind === 'file') return a.index - b.index;
  if (a.kind === 'etcd' && b.kind === 'etcd') return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  return a.kind === 'file' ? -1 : 1;
}

function buildIndex(entries: Iterable<Entry>): CertIndex {
  const ordered = [...entries].sort((a, b) => compareSlots(a.loaded.info.slot, b.loaded.info.slot));
  const exact = new Map<string, LoadedCert>();
  const wildcard = new Map<string, LoadedCert>();
  // Two certificates claiming one name: the earlier in the order keeps it.
  for (const { loaded } of ordered) {
    for (const n of loaded.info.dnsNames) {
      const map = n.startsWith('*.') ? wildcard : exact;
      const key = n.startsWith('*.') ? n.slice(2) : n;
      if (!map.has(key)) map.set(key, loaded);
    }
  }
  return { ordered, exact, wildcard };
}

export class CertStore {
  private readonly entries = new Map<string, Entry>();
  private index: CertIndex = buildIndex([]);
  private readonly listeners = new Set<() => void>();

  /** Adds or replaces the entry of `input.slot`. An invalid pair changes nothing and is returned as the error. */
  put(input: CertInput): PutResult {
    const id = slotId(input.slot);
    const prev = this.entries.get(id);
    if (prev && prev.cert === input.cert && prev.key === input.key && prev.loaded.info.name === input.name) {
      return { ok: true, changed: false, info: prev.loaded.info };
    }
    let loaded: LoadedCert;
    try {
      loaded = loadCert(input);
    } catch (err) {
      if (err instanceof CertError) return { ok: false, error: err };
      throw err;
    }
    this.entries.set(id, { loaded, cert: input.cert, key: input.key });
    this.rebuild();
    return { ok: true, changed: true, info: loaded.info };
  }

  delete(slot: CertSlot): boolean {
    if (!this.entries.delete(slotId(slot))) return false;
    this.rebuild();
    return true;
  }

  /** The certificate for a handshake: exact name, else a wildcard one label deep, else the first. */
  select(servername: string | null | undefined): LoadedCert | undefined {
    const { exact, wildcard, ordered } = this.index;
    if (servername) {
      const n = normalizeName(servername);
      const hit = exact.get(n);
      if (hit) return hit;
      const dot = n.indexOf('.');
      if (dot > 0) {
        const wild = wildcard.get(n.slice(dot + 1));
        if (wild) return wild;
      }
    }
    return ordered[0]?.loaded;
  }

  /** The default certificate (no SNI, no match). */
  first(): LoadedCert | undefined {
    return this.index.ordered[0]?.loaded;
  }

  /** The default certificate's PEMs, for the listener's own context (`server.setSecureContext`). */
  firstPem(): { readonly cert: string; readonly key: string } | undefined {
    const e = this.index.ordered[0];
    return e && { cert: e.cert, key: e.key };
  }

  /** Every entry in selection order (no keys: safe to show). */
  list(): readonly CertInfo[] {
    return this.index.ordered.map((e) => e.loaded.info);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Called after every change that took effect. Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private rebuild(): void {
    this.index = buildIndex(this.entries.values());
    for (const l of this.listeners) l();
  }
}
