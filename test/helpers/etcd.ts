// Spawns a real etcd (Debian's etcd-server) on random loopback ports with a temp data dir.
// Optionally serves clients over https with client-certificate auth (peers stay plain http on
// loopback), and can switch on password auth (`enableAuth`).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3, type IOptions } from 'etcd3';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface EtcdTlsOptions {
  /** CA that signed the server certificate and that client certificates must chain to. */
  readonly caFile: string;
  /** Server certificate and key (SANs must cover 127.0.0.1). */
  readonly certFile: string;
  readonly keyFile: string;
  /**
   * Client certificate and key the helper itself uses (readiness check, `client()`, `etcdctl()`).
   * Defaults to the server pair, which works when it carries the clientAuth extended key usage.
   */
  readonly client?: { readonly certFile: string; readonly keyFile: string };
}

export interface StartEtcdOptions {
  /** Serve clients over https with `--client-cert-auth`; `endpoint` becomes https://127.0.0.1:<port>. */
  readonly tls?: EtcdTlsOptions;
}

export interface EtcdServer {
  readonly endpoint: string;
  readonly clientPort: number;
  dataDir: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** Start again on the same ports; `fresh` wipes the data dir first (data loss). */
  start(opts?: { fresh?: boolean }): Promise<void>;
  /** A plain client for assertions (with the helper's TLS client certificate; optional password auth). */
  client(opts?: { auth?: { readonly username: string; readonly password: string } }): Etcd3;
  /** Stop, remove the data dir, close clients. Safe to call twice. */
  destroy(): Promise<void>;
}

const live = new Set<EtcdServer>();
/** TLS files per server, for `etcdctl()`; kept off the EtcdServer interface so it stays as it was. */
const tlsOf = new WeakMap<EtcdServer, EtcdTlsOptions>();

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const { tls } = opts;
  const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  let proc: ChildProcess | undefined;
  const clients: Etcd3[] = [];
  let dataDir = mkdtempSync(join(tmpdir(), 'sk-etcd-'));
  const tlsArgs = tls
    ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--client-cert-auth', '--trusted-ca-file', tls.caFile]
    : [];

  const healthy = async (): Promise<boolean> => {
    if (!tls) {
      const res = await fetch(`${endpoint}/health`).catch(() => undefined);
      return res?.ok === true;
    }
    const pair = tls.client ?? { certFile: tls.certFile, keyFile: tls.keyFile };
    return new Promise<boolean>((resolve) => {
      const req = request(
        `${endpoint}/health`,
        {
          ca: readFileSync(tls.caFile),
          cert: readFileSync(pair.certFile),
          key: readFileSync(pair.keyFile),
          timeout: 2000,
          servername: 'localhost', // an IP is not a valid SNI name; the certificate covers both
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
  };

  const launch = async (): Promise<void> => {
    const peer = `http://127.0.0.1:${peerPort}`;
    const child = spawn(
      'etcd',
      [
        '--name',
        'test',
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        endpoint,
        '--advertise-client-urls',
        endpoint,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `test=${peer}`,
        '--initial-cluster-state',
        'new',
        ...tlsArgs,
        '--logger',
        'zap',
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    proc = child;
    // waitFor retries through errors; an etcd that exited will not come back, so stop waiting at once.
    const outcome = await waitFor(
      `etcd on ${endpoint} (${stderr})`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) return 'exited' as const;
        return (await healthy()) ? ('up' as const) : undefined;
      },
      20_000,
      50,
    );
    if (outcome === 'exited')
      throw new Error(`etcd on ${endpoint} exited ${child.exitCode ?? child.signalCode}: ${stderr}`);
  };

  const stop = async (): Promise<void> => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const server: EtcdServer = {
    endpoint,
    clientPort,
    get dataDir() {
      return dataDir;
    },
    set dataDir(v: string) {
      dataDir = v;
    },
    stop,
    async start(opts) {
      if (proc && proc.exitCode === null) return; // already running: never orphan the live process
      if (opts?.fresh) {
        rmSync(dataDir, { recursive: true, force: true });
        dataDir = mkdtempSync(join(tmpdir(), 'sk-etcd-'));
      }
      await launch();
    },
    client(copts) {
      const options: IOptions = {
        hosts: endpoint,
        faultHandling: { host: () => ({ execute: (fn: () => unknown) => fn() }) as never },
      };
      if (tls) {
        const pair = tls.client ?? { certFile: tls.certFile, keyFile: tls.keyFile };
        options.credentials = {
          rootCertificate: readFileSync(tls.caFile),
          certChain: readFileSync(pair.certFile),
          privateKey: readFileSync(pair.keyFile),
        };
        // grpc-js would send the IP as SNI name (a Node deprecation warning); the certificate covers localhost too.
        options.grpcOptions = { 'grpc.ssl_target_name_override': 'localhost' };
      }
      if (copts?.auth) options.auth = { username: copts.auth.username, password: copts.auth.password };
      const c = new Etcd3(options);
      clients.push(c);
      return c;
    },
    async destroy() {
      live.delete(server);
      for (const c of clients.splice(0)) c.close();
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  live.add(server);
  if (tls) tlsOf.set(server, tls);
  try {
    await launch();
  } catch (err) {
    await server.destroy();
    throw err;
  }
  return server;
}

/** Runs etcdctl (v3 API) against the server, with its TLS files and, if given, `--user name:password`. */
export async function etcdctl(server: EtcdServer, args: readonly string[], user?: string): Promise<string> {
  const tls = tlsOf.get(server);
  const flags = ['--endpoints', server.endpoint, '--dial-timeout', '3s', '--command-timeout', '5s'];
  if (tls) {
    const pair = tls.client ?? { certFile: tls.certFile, keyFile: tls.keyFile };
    flags.push('--cacert', tls.caFile, '--cert', pair.certFile, '--key', pair.keyFile);
  }
  if (user !== undefined) flags.push('--user', user);
  try {
    const { stdout } = await run('etcdctl', [...flags, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeout: 15_000,
    });
    return stdout.trim();
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`etcdctl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export interface EtcdAuthSetup {
  readonly rootPassword: string;
  /** The unprivileged user, by default `sidekick`, granted readwrite on `prefix` only. */
  readonly user?: string;
  readonly password: string;
  /** Key prefix the user may read and write; default `/services/`. */
  readonly prefix?: string;
}

/**
 * Switches on password auth: users root and `user`, role `registry` with readwrite on `prefix`,
 * granted to `user`, then `auth enable` (root must exist first). Afterwards `client()` needs `auth`.
 */
export async function enableAuth(server: EtcdServer, s: EtcdAuthSetup): Promise<void> {
  const user = s.user ?? 'sidekick';
  await etcdctl(server, ['user', 'add', `root:${s.rootPassword}`]);
  await etcdctl(server, ['user', 'add', `${user}:${s.password}`]);
  await etcdctl(server, ['role', 'add', 'registry']);
  await etcdctl(server, [
    'role',
    'grant-permission',
    'registry',
    '--prefix=true',
    'readwrite',
    s.prefix ?? '/services/',
  ]);
  await etcdctl(server, ['user', 'grant-role', user, 'registry']);
  await etcdctl(server, ['auth', 'enable']);
}

/** Reads every key under a prefix as a plain object: the oracle tests compare against. */
export async function readPrefix(client: Etcd3, prefix: string): Promise<Record<string, string>> {
  return client.getAll().prefix(prefix).strings();
}

export async function destroyAllEtcd(): Promise<void> {
  for (const s of [...live]) await s.destroy();
}
