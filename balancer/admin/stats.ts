// Cumulative request and 5xx counts per service for the dashboard's /api/stats. One Map lookup per
// response, fed by the proxy's onResponse event; the page turns the deltas between two polls into
// requests/s and an error rate. Prometheus keeps the same numbers in balancer_requests_total, but
// reading them back means rendering and parsing the whole exposition text.

export interface ServiceTraffic {
  requests: number;
  /** Responses with a 5xx status (ours or the backend's). */
  errors: number;
}

/** The JSON of /api/stats. */
export interface TrafficSnapshot {
  /** Unix time in milliseconds when the counts were read. */
  readonly time: number;
  /** Service → counts since the service first saw traffic ('none': no route matched). */
  readonly services: Readonly<Record<string, ServiceTraffic>>;
  /** Set by the primary of --workers N, which proxies nothing: its counts are empty. */
  readonly workers?: number;
}

export class TrafficStats {
  private readonly counts = new Map<string, ServiceTraffic>();
  private served = 0;

  constructor(private readonly now: () => number = Date.now) {}

  record(service: string, status: number): void {
    let c = this.counts.get(service);
    if (!c) this.counts.set(service, (c = { requests: 0, errors: 0 }));
    c.requests++;
    this.served++;
    if (status >= 500) c.errors++;
  }

  /** Every response since start, across services (forgotten services included). */
  total(): number {
    return this.served;
  }

  /** Services that left the table: their counts restart at 0 if they come back (the page treats a drop as a reset). */
  forget(services: Iterable<string>): void {
    for (const s of services) this.counts.delete(s);
  }

  snapshot(): TrafficSnapshot {
    const services: Record<string, ServiceTraffic> = {};
    for (const [name, c] of this.counts) services[name] = { requests: c.requests, errors: c.errors };
    return { time: this.now(), services };
  }
}
