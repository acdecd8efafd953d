// A private etcd (Debian's etcd-server) on free loopback ports with a temporary data dir.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { start, type Proc } from './procs.js';
import { freePort, waitFor } from './util.js';

export interface Etcd {
  readonly endpoint: string;
  readonly proc: Proc;
  readonly client: Etcd3;
  readonly dataDir: string;
}

export async function startEtcd(work: string): Promise<Etcd> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(work, 'etcd-data');
  mkdirSync(dataDir, { recursive: true });
  const proc = start('etcd', 'etcd', [
    '--name',
    'bench',
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
    `bench=${peer}`,
    '--initial-cluster-state',
    'new',
    '--logger',
    'zap',
    '--log-level',
    'error',
  ]);
  await waitFor(
    `etcd on ${endpoint}`,
    async () => {
      if (!proc.alive()) throw new Error(`etcd exited: ${proc.tail()}`);
      const res = await fetch(`${endpoint}/health`).catch(() => undefined);
      return res?.ok === true;
    },
    20_000,
    50,
  );
  const client = new Etcd3({ hosts: endpoint });
  return { endpoint, proc, client, dataDir };
}

export interface PutOp {
  readonly key: string;
  readonly value: string;
}

/** Writes `ops` in transactions of `perTxn` (etcd's default --max-txn-ops is 128); returns the last revision. */
export async function putMany(client: Etcd3, ops: readonly PutOp[], perTxn = 100, parallel = 4): Promise<number> {
  let revision = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ops.length) {
      const chunk = ops.slice(next, next + perTxn);
      next += perTxn;
      const res = await client.kv.txn({
        compare: [],
        success: chunk.map((o) => ({ request_put: { key: Buffer.from(o.key), value: Buffer.from(o.value) } })),
        failure: [],
      });
      revision = Math.max(revision, Number(res.header.revision));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return revision;
}

export async function currentRevision(client: Etcd3): Promise<number> {
  const res = await client.kv.range({ key: Buffer.from('\0'), limit: 1, count_only: true });
  return Number(res.header.revision);
}

export async function countPrefix(client: Etcd3, prefix: string): Promise<number> {
  return client.getAll().prefix(prefix).count();
}
