// Reading a Prometheus /metrics page in tests: one series' value, or the sum of every series whose
// line starts with a name (all label sets of a metric).
/** `base`: `http://host:port` of an admin listener. */
export async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${base}/metrics: ${res.status}`);
  return res.text();
}

/** The value of exactly `series` (`name{labels}` as exposed); `missing` when there is no such line. */
export async function metric(base: string, series: string, missing = 0): Promise<number> {
  const line = (await scrape(base)).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? missing : Number(line.slice(series.length + 1));
}

/** The sum over every line starting with `prefix` (a metric name, with or without some labels). */
export async function metricSum(base: string, prefix: string): Promise<number> {
  let sum = 0;
  for (const line of (await scrape(base)).split('\n'))
    if (line.startsWith(prefix)) sum += Number(line.split(' ').pop());
  return sum;
}
