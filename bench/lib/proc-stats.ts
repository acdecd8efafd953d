// Resource use of a running process from /proc: resident memory and CPU time.
import { readdirSync, readFileSync } from 'node:fs';

/** VmRSS in MiB, NaN once the process is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors of a process (sockets included), NaN once it is gone. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** The soft "Max open files" limit of a process (Node raises its own soft limit to the hard one at start). */
export function openFilesLimit(pid: number): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m?.[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m?.[1] ?? 'NaN');
  } catch {
    return Number.NaN;
  }
}

/** utime + stime in seconds (USER_HZ is 100 on Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Children's pids (cluster workers), from /proc/<pid>/task/<pid>/children. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `of` summed over a process and its direct children (cluster or nginx workers); a child gone meanwhile counts 0. */
function overTree(pid: number, of: (pid: number) => number): number {
  let total = of(pid);
  for (const child of childPids(pid)) {
    const v = of(child);
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

/** CPU seconds of a process and its direct children. */
export const treeCpuSeconds = (pid: number): number => overTree(pid, cpuSeconds);

/** VmRSS of a process and its direct children, MiB. */
export const treeRssMiB = (pid: number): number => overTree(pid, rssMiB);

/** Parses a Prometheus histogram from /metrics text into cumulative buckets. */
export function parseHistogram(
  text: string,
  name: string,
): { buckets: Array<{ le: number; count: number }>; sum: number; count: number } {
  const buckets: Array<{ le: number; count: number }> = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1] ?? '+Inf';
      buckets.push({
        le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le),
        count: Number(line.slice(line.lastIndexOf(' ') + 1)),
      });
    } else if (line.startsWith(`${name}_sum`)) sum = Number(line.slice(line.lastIndexOf(' ') + 1));
    else if (line.startsWith(`${name}_count`)) count = Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { buckets, sum, count };
}

/** Quantile of the observations between two scrapes, as the upper bound of the bucket it falls in. */
export function histogramDelta(
  before: ReturnType<typeof parseHistogram>,
  after: ReturnType<typeof parseHistogram>,
  q: number,
): { count: number; mean: number; quantileLe: number } {
  const count = after.count - before.count;
  const mean = count > 0 ? (after.sum - before.sum) / count : Number.NaN;
  let quantileLe = Number.NaN;
  for (const b of after.buckets) {
    const prev = before.buckets.find((x) => x.le === b.le)?.count ?? 0;
    if (count > 0 && b.count - prev >= q * count) {
      quantileLe = b.le;
      break;
    }
  }
  return { count, mean, quantileLe };
}

/** Sum of a metric's series in Prometheus text, over the series whose labels contain `match` (all if none). */
export function sumSeries(text: string, name: string, match = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (match && !line.slice(name.length, line.lastIndexOf(' ')).includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
