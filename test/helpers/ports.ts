import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The lowest port the kernel hands out as a connection's local port. A port taken with listen(0)
 * comes from that same range, so while it is released and handed to a child (etcd, restarted on the
 * same port) a busy test's outgoing connection can grab it: etcd then dies with "address already in
 * use" (seen in the fault suite under load). Ports below the range are never taken that way.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A free loopback TCP port below the ephemeral range (bound then released: the remaining race is with
 * another test picking the same random port, which we accept). Falls back to a kernel-chosen port.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  const low = Math.max(1024, Math.min(20_000, high - 2000));
  for (let attempt = 0; attempt < 50 && high - low >= 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    const got = await tryListen(port);
    if (got !== undefined) return got;
  }
  const any = await tryListen(0);
  if (any === undefined) throw new Error('no free loopback port');
  return any;
}
