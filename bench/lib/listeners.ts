// What a process listens on, from /proc: its socket inodes (/proc/<pid>/fd) matched against the kernel's
// socket tables (/proc/net/{tcp,tcp6,udp,udp6}). The bench uses it to check that a peer's configuration,
// defaults included (Caddy's admin endpoint, HTTP→HTTPS redirects, HTTP/3 over UDP), binds loopback only.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { childPids } from './proc-stats.js';

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** `0100007F:1F90` → `127.0.0.1:8080`; IPv6 as four little-endian 32-bit words. */
export function decodeAddress(hex: string): { host: string; port: number } {
  const [addr = '', port = '0'] = hex.split(':');
  const words = addr.match(/.{8}/g) ?? [];
  const bytes = words
    .flatMap((w) => [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)])
    .map((b) => parseInt(b, 16));
  let host: string;
  if (bytes.length === 4) host = bytes.join('.');
  else {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
    host = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return { host, port: parseInt(port, 16) };
}

export function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === '::1' || /^::ffff:7f[0-9a-f]{2}:/.test(host);
}

/** TCP sockets in LISTEN state and bound UDP sockets held by `pid` and its direct children (workers). */
export function listening(pid: number): string[] {
  const inodes = new Set<string>();
  for (const p of [pid, ...childPids(pid)]) for (const i of socketInodes(p)) inodes.add(i);
  const out = new Set<string>();
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      if (table.startsWith('tcp') && f[3] !== '0A') continue; // 0A = LISTEN; others are connections
      const { host, port } = decodeAddress(f[1]!);
      out.add(`${table.slice(0, 3)} ${host.includes(':') ? `[${host}]` : host}:${port}`);
    }
  }
  return [...out].sort();
}

/** Throws unless `pid` (and its workers) listens on something, and on loopback addresses only. */
export function assertLoopbackOnly(name: string, pid: number): string[] {
  const found = listening(pid);
  if (found.length === 0) throw new Error(`${name}: no listening socket found for pid ${pid}`);
  const outside = found.filter((a) => !isLoopback(a.slice(4).replace(/^\[|\]?:\d+$/g, '')));
  if (outside.length > 0) throw new Error(`${name} listens beyond loopback: ${outside.join(', ')}`);
  return found;
}
