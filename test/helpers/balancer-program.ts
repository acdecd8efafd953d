// The balancer program on loopback for tests: spawned with its proxy and admin listeners on port 0,
// resolved once it has said where it listens and its readiness answers 200.
import { startProgram, type Program } from './program.js';
import { waitFor } from './wait.js';

export interface BalancerProgram {
  readonly p: Program;
  /** `http://host:port` of the plain proxy listener. */
  readonly proxy: string;
  readonly proxyPort: number;
  /** The TLS listener's port, when --tls-listen was given. */
  readonly tlsPort: number | undefined;
  /** `http://host:port` of the admin listener. */
  readonly admin: string;
}

const portOf = (addr: unknown): number => Number(String(addr).split(':').at(-1));

export async function startBalancerProgram(etcdEndpoint: string, args: readonly string[]): Promise<BalancerProgram> {
  // Loopback on port 0 unless the test names its own listeners (e.g. [::1]:0).
  const defaults = ['--listen', '--admin'].flatMap((flag) => (args.includes(flag) ? [] : [flag, '127.0.0.1:0']));
  const p = startProgram('balancer', ['--etcd-endpoints', etcdEndpoint, ...defaults, ...args]);
  const line = await waitFor('balancer listening', () => p.logs().find((l) => l.msg === 'balancer listening'), 10_000);
  const admin = `http://${String(line.admin)}`;
  await waitFor('balancer ready', async () => (await fetch(`${admin}/readyz`)).status === 200, 10_000);
  return {
    p,
    proxy: `http://${String(line.proxy)}`,
    proxyPort: portOf(line.proxy),
    tlsPort: line.tls === undefined ? undefined : portOf(line.tls),
    admin,
  };
}
