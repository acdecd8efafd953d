// Spawns a real etcd (Debian's etcd-server) on random loopback ports with a temp data dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface EtcdServer {
  readonly endpoint: string;
  readonly clientPort: number;
  dataDir: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** Start again on the same ports; `fresh` wipes the data dir first (data loss). */
  start(opts?: { fresh?: boolean }): Promise<void>;
  /** A plain client for assertions. */
  client(): Etcd3;
  /** Stop, remove the data dir, close clients. Safe to call twice. */
  destroy(): Promise<void>;
}

const live = new Set<EtcdServer>();

export async function startEtcd(): Promise<EtcdServer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  let proc: ChildProcess | undefined;
  const clients: Etcd3[] = [];
  let dataDir = mkdtempSync(join(tmpdir(), 'sk-etcd-'));

  const launch = async (): Promise<void> => {
    const peer = `http://127.0.0.1:${peerPort}`;
    const child = spawn('etcd', [
      '--name', 'test', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
      '--logger', 'zap', '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    proc = child;
    await waitFor(`etcd on ${endpoint} (${stderr})`, async () => {
      if (child.exitCode !== null) throw new Error(`etcd exited ${child.exitCode}: ${stderr}`);
      const res = await fetch(`${endpoint}/health`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 20_000, 50);
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
    get dataDir() { return dataDir; },
    set dataDir(v: string) { dataDir = v; },
    stop,
    async start(opts) {
      if (opts?.fresh) {
        rmSync(dataDir, { recursive: true, force: true });
        dataDir = mkdtempSync(join(tmpdir(), 'sk-etcd-'));
      }
      await launch();
    },
    client() {
      const c = new Etcd3({ hosts: endpoint, faultHandling: { host: () => ({ execute: (fn: () => unknown) => fn() }) as never } });
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
  await launch();
  return server;
}

/** Reads every key under a prefix as a plain object: the oracle tests compare against. */
export async function readPrefix(client: Etcd3, prefix: string): Promise<Record<string, string>> {
  return client.getAll().prefix(prefix).strings();
}

export async function destroyAllEtcd(): Promise<void> {
  for (const s of [...live]) await s.destroy();
}
