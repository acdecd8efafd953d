// Runs once per `vitest run`: builds the programs (child-process tests run dist/) and the test
// images when a Docker engine is reachable; removes any leftover test containers before and after.
import { execFileSync } from 'node:child_process';
import { buildTestImages, docker, removeTestContainers } from './docker.js';

async function dockerReachable(): Promise<boolean> {
  try {
    await docker('version', '--format', '{{.Server.Version}}');
    return true;
  } catch {
    return false;
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  // Workers inherit the environment: every container this run starts is labelled with its id.
  process.env.SIDEKICK_TEST_RUN = `${process.pid}-${Date.now().toString(36)}`;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const hasDocker = await dockerReachable();
  if (hasDocker) {
    await buildTestImages();
  }
  return async () => {
    if (hasDocker) await removeTestContainers();
  };
}
