// What every scenario gets: the mode's parameters, the shared etcd and node:http backend, and where to report.
import type { Etcd } from './etcd.js';
import type { Proc } from './procs.js';
import type { Row } from './report.js';

export interface Params {
  /** Interleaved rounds per competitor in throughput comparisons. */
  readonly rounds: number;
  /** Seconds per wrk run. */
  readonly seconds: number;
  /** Rounds for the second set of throughput rows, behind the node:http backend (at most `rounds`). */
  readonly nodeRounds: number;
  /** Measured seconds per fixed-rate (1,000 req/s) run, after an unmeasured lead-in. */
  readonly rateSeconds: number;
  readonly rateWarmupMs: number;
  readonly putTrials: number;
  readonly containerTrials: number;
  readonly healthTrials: number;
  readonly startTrials: number;
  readonly applyTrials: number;
  readonly churnSeconds: number;
  readonly churnRate: number;
  readonly skContainers: number;
  readonly idleSeconds: number;
  /** Seconds the held-load connections stay idle (below the balancer's 60 s --client-timeout). */
  readonly holdSeconds: number;
  /** Seconds of 1 s periodic checks measured per case in the sidekick ownership rows. */
  readonly ownershipSeconds: number;
  readonly profileSeconds: number;
}

export const QUICK: Params = {
  rounds: 2,
  seconds: 1,
  nodeRounds: 1,
  rateSeconds: 1,
  rateWarmupMs: 300,
  putTrials: 20,
  containerTrials: 5,
  healthTrials: 3,
  startTrials: 2,
  applyTrials: 50,
  churnSeconds: 3,
  churnRate: 1000,
  skContainers: 20,
  idleSeconds: 3,
  holdSeconds: 3,
  ownershipSeconds: 5,
  profileSeconds: 5,
};

export const FULL: Params = {
  rounds: 5,
  seconds: 5,
  nodeRounds: 3,
  rateSeconds: 8,
  rateWarmupMs: 500,
  putTrials: 100,
  containerTrials: 50,
  healthTrials: 50,
  startTrials: 5,
  applyTrials: 300,
  churnSeconds: 10,
  churnRate: 1000,
  skContainers: 200,
  idleSeconds: 10,
  holdSeconds: 20,
  ownershipSeconds: 15,
  profileSeconds: 15,
};

export interface Context {
  readonly quick: boolean;
  readonly params: Params;
  readonly work: string;
  /** This run's id: container labels and names carry it. */
  readonly run: string;
  readonly etcd: Etcd;
  /** The shared node:http backend (one port). */
  readonly backendPort: number;
  readonly backendProc: Proc;
  /** Competitor names given to `--only` (bench/lib/competitors.ts); undefined: all of them. */
  readonly competitors?: ReadonlySet<string>;
  readonly rows: Row[];
  /** Raw measurements per scenario, written to results.json. */
  readonly raw: Record<string, unknown>;
}
