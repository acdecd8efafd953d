#!/usr/bin/env node
// The only sidekick file that touches `process`: config, signals, exit codes.
import { hostname, networkInterfaces } from 'node:os';
import Dockerode from 'dockerode';
import { createEtcdClient } from '../common/etcd-client.js';
import { ConfigError } from '../common/errors.js';
import { createLogger, logFormat } from '../common/logger.js';
import { renderHelp } from '../common/options.js';
import { sendJson, sendText, StatusServer } from '../common/status-server.js';
import { packageVersion } from '../common/version.js';
import { loadSidekickConfig, sidekickOptions, type LoadedConfig } from './config.js';
import { DockerSource, dockerConnection } from './docker-source.js';
import { dryRun } from './dry-run.js';
import { entryOptions } from './entries.js';
import { createSidekickMetrics } from './metrics.js';
import { Sidekick } from './sidekick.js';

const USAGE =
  'Usage: sidekick [options]\n\nPublishes every live, healthy Docker container that opts in to etcd, under one lease.';
const EXAMPLES = [
  'sidekick --etcd-endpoints http://10.0.0.5:2379 --host-ip 10.0.0.21',
  'sidekick --container web-1 --ttl 15s          # one sidekick per service (the books’ pattern)',
  'docker run -l sidekick.service=web -p 8080:80 my/web   # opt a container in',
];

async function main(): Promise<number> {
  let loaded: LoadedConfig;
  try {
    loaded = loadSidekickConfig(process.argv.slice(2), process.env, {
      hostname: hostname(),
      interfaces: networkInterfaces(),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`sidekick: invalid configuration: ${p}\n`);
      return 2;
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(renderHelp(sidekickOptions, USAGE, EXAMPLES));
    return 0;
  }
  if (loaded.version) {
    process.stdout.write(`sidekick ${packageVersion()}\n`);
    return 0;
  }
  const { config } = loaded;
  if (config.dryRun) {
    const docker = new DockerSource(
      new Dockerode(dockerConnection(config.dockerHost)),
      createLogger('sidekick', 'silent'),
      config.container || undefined,
      config.dockerTimeout,
    );
    try {
      const { entries, routes, warnings } = await dryRun(docker, entryOptions(config), config.container || undefined);
      for (const w of warnings) process.stderr.write(`sidekick: warning: ${w}\n`);
      for (const [key, value] of entries) process.stdout.write(`${key} ${value}\n`);
      // Comment lines, so the output stays `etcdctl put`-able key value lines.
      for (const line of routes) process.stdout.write(`# route ${line}\n`);
      return 0;
    } catch (err) {
      process.stderr.write(`sidekick: --dry-run: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const log = createLogger('sidekick', config.logLevel, logFormat(config.logFormat, process.stdout.isTTY === true));
  for (const note of loaded.notes) log.info(note);
  const metrics = createSidekickMetrics();
  const etcd = createEtcdClient(config);
  const docker = new DockerSource(
    new Dockerode(dockerConnection(config.dockerHost)),
    log.child({ component: 'docker' }),
    config.container || undefined,
    config.dockerTimeout,
  );
  const sidekick = new Sidekick({ config, docker, etcd, log, metrics });

  let status: StatusServer | undefined;
  if (config.metrics !== 'off') {
    status = new StatusServer(
      {
        '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok', ...sidekick.status() }),
        '/metrics': async (_req, res) =>
          sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType),
      },
      (err) => log.error({ err }, 'status endpoint failed'),
    );
    try {
      const addr = await status.listen(config.metrics);
      log.info({ address: `${addr.address}:${addr.port}` }, 'metrics listening');
    } catch (err) {
      const where = `${config.metrics.host}:${config.metrics.port}`;
      process.stderr.write(`sidekick: --metrics: cannot listen on ${where}: ${(err as Error).message}\n`);
      etcd.close();
      return 2;
    }
  }

  log.info(
    {
      node: config.node,
      hostIp: config.hostIp,
      prefix: config.prefix,
      etcd: config.etcdEndpoints,
      mode: config.container ? `container ${config.container}` : 'host-wide',
    },
    'sidekick starting',
  );
  sidekick.start();

  const reason = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    void sidekick.removed.then(() => resolve('followed container removed'));
  });
  log.info({ reason }, 'shutting down');
  await sidekick.stop();
  await status?.close();
  etcd.close();
  log.flush();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // etcd3/grpc may keep handles open after close(); we are done either way.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`sidekick: fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
