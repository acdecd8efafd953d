// Real Docker engine helpers for tests. Fixture actions use the docker CLI, as an operator would;
// the code under test talks to the engine through dockerode.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TEST_LABEL = 'sidekick.test';
/**
 * Set by the global setup: containers of this run carry `sidekick.test=<run>`, so two runs never
 * remove each other's.
 */
export const testRun = (): string => process.env.SIDEKICK_TEST_RUN ?? 'adhoc';
export const WEB_IMAGE = 'sidekick-test/web:latest';
export const HEALTH_IMAGE = 'sidekick-test/web-health:latest';

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, {
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  return stdout.trim();
}

/** Builds the test images with the same script the demo uses: no registry needed. */
export async function buildTestImages(): Promise<void> {
  await run('bash', [join(import.meta.dirname, '..', '..', 'scripts', 'build-web-image.sh'), WEB_IMAGE, HEALTH_IMAGE]);
}

export interface RunOptions {
  readonly name: string;
  readonly image?: string;
  readonly labels?: Record<string, string>;
  readonly env?: Record<string, string>;
  /** `-p` values, e.g. '127.0.0.1::80' */
  readonly publish?: readonly string[];
  readonly network?: string;
  readonly extra?: readonly string[];
  /** Replaces the image's CMD. */
  readonly command?: readonly string[];
}

/** `docker run -d` with the test label, so cleanup finds it whatever happens. Returns the id. */
export async function runContainer(o: RunOptions): Promise<string> {
  const args = ['run', '-d', '--name', o.name, '--label', `${TEST_LABEL}=${testRun()}`];
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('-e', `${k}=${v}`);
  for (const p of o.publish ?? []) args.push('-p', p);
  if (o.network) args.push('--network', o.network);
  args.push(...(o.extra ?? []), o.image ?? WEB_IMAGE, ...(o.command ?? []));
  return docker(...args);
}

export async function hostPortOf(name: string, containerPort = '80/tcp'): Promise<number> {
  const out = await docker(
    'inspect',
    '-f',
    `{{(index (index .NetworkSettings.Ports "${containerPort}") 0).HostPort}}`,
    name,
  );
  return Number(out);
}

export async function removeTestContainers(): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${testRun()}`)).split('\n').filter(Boolean);
  if (ids.length > 0) await docker('rm', '-f', '-v', ...ids).catch(() => undefined);
}

/** A short unique suffix so test files never collide on names. */
export function uniq(prefix: string): string {
  return `${prefix}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
