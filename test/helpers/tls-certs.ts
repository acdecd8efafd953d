// Throwaway web PKI for the TLS edge tests: a root CA, an intermediate CA and server certificates with
// the subjectAltNames a test asks for, made with the openssl CLI (EC P-256: fast to generate).
// Leaf files hold the chain (leaf + intermediate), as a CA's "fullchain.pem" does.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { openssl } from './certs.js';

export interface IssuedCert {
  /** Leaf then intermediate, PEM. */
  readonly certPem: string;
  /** The leaf alone, PEM. */
  readonly leafPem: string;
  readonly keyPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface IssueOptions {
  /** subjectAltName DNS names; none and `noSan` → a certificate without the extension. */
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  /** Subject CN; default the first DNS name or 'edge-test'. */
  readonly cn?: string;
  readonly noSan?: boolean;
}

export interface TlsTestPki {
  readonly dir: string;
  /** The root CA certificate (PEM): what a verifying client trusts. */
  readonly rootPem: string;
  issue(options: IssueOptions): Promise<IssuedCert>;
  /** A fresh EC key that belongs to no certificate. */
  strayKey(): Promise<string>;
  /** Removes the directory. Safe to call twice. */
  cleanup(): void;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const serial = (): string => `0x${randomBytes(8).toString('hex')}`;

async function signed(dir: string, name: string, subject: string, ca: string, ext: string): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), ext);
  await openssl(dir, 'req', '-new', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject);
  await openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-set_serial',
    serial(),
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
  );
}

export async function makeTlsPki(): Promise<TlsTestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-pki-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const caExt = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
  try {
    await openssl(
      dir,
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'root-key.pem',
      '-out',
      'root.pem',
      '-days',
      '2',
      '-sha256',
      '-subj',
      '/CN=edge-test-root',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    await signed(dir, 'inter', '/CN=edge-test-intermediate', 'root', `${caExt}`);
  } catch (err) {
    cleanup();
    throw err;
  }
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const interPem = read('inter.pem');
  let n = 0;
  return {
    dir,
    rootPem: read('root.pem'),
    cleanup,
    async issue(o: IssueOptions): Promise<IssuedCert> {
      const name = `leaf${++n}`;
      const sans = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ips ?? []).map((ip) => `IP:${ip}`)];
      const ext = [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        ...(o.noSan || sans.length === 0 ? [] : [`subjectAltName=${sans.join(',')}`]),
        '',
      ].join('\n');
      await signed(dir, name, `/CN=${o.cn ?? o.dns?.[0] ?? 'edge-test'}`, 'inter', ext);
      const leafPem = read(`${name}.pem`);
      const certPem = leafPem + interPem;
      const certFile = join(dir, `${name}-chain.pem`);
      writeFileSync(certFile, certPem);
      return { certPem, leafPem, keyPem: read(`${name}-key.pem`), certFile, keyFile: join(dir, `${name}-key.pem`) };
    },
    async strayKey(): Promise<string> {
      const name = `stray${++n}`;
      await openssl(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.pem`);
      return read(`${name}.pem`);
    },
  };
}

/** The subjectAltName of the certificate a TLS listener on 127.0.0.1:`port` serves for `servername`. */
export function servedSan(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    s.once('secureConnect', () => {
      resolve(s.getPeerCertificate().subjectaltname ?? '');
      s.destroy();
    });
    s.once('error', reject);
  });
}
