// The one place that builds an etcd3 client, so both programs get the same rules:
// a deadline on every unary call, gRPC keepalive so a frozen member is noticed, `hasleader` so a
// member cut off from its cluster cancels our streams, no per-host circuit breaker (it deadlocks
// password auth after an etcd restart), and a watch backoff capped at 3 s.
import { readFileSync } from 'node:fs';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { ExponentialBackoff, handleWhen, noop, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { option, type OptionDef } from './options.js';
import { durationAtLeast, parseEndpoints, parseNonEmpty } from './parsers.js';

export interface EtcdSettings {
  readonly etcdEndpoints: readonly string[];
  readonly etcdCa: string;
  readonly etcdCert: string;
  readonly etcdKey: string;
  readonly etcdUser: string;
  readonly etcdPassword: string;
  readonly etcdTimeout: number;
}

/** The etcd options both programs accept; `envPrefix` is SIDEKICK or BALANCER. */
export function etcdOptionDefs(envPrefix: string): { [K in keyof EtcdSettings]: OptionDef<EtcdSettings[K]> } {
  const group = 'etcd';
  return {
    etcdEndpoints: option({
      env: [`${envPrefix}_ETCD_ENDPOINTS`, 'ETCD_ENDPOINTS'],
      default: Object.freeze(['http://127.0.0.1:2379']),
      parse: parseEndpoints,
      group,
      placeholder: 'urls',
      describe: 'etcd endpoints, comma separated; list every cluster member',
    }),
    etcdCa: option({
      env: [`${envPrefix}_ETCD_CA`, 'ETCD_CA'],
      default: '',
      parse: parseNonEmpty,
      group,
      placeholder: 'file',
      describe: 'CA certificate (PEM) for etcd TLS',
    }),
    etcdCert: option({
      env: [`${envPrefix}_ETCD_CERT`, 'ETCD_CERT'],
      default: '',
      parse: parseNonEmpty,
      group,
      placeholder: 'file',
      describe: 'client certificate (PEM) for etcd mutual TLS',
    }),
    etcdKey: option({
      env: [`${envPrefix}_ETCD_KEY`, 'ETCD_KEY'],
      default: '',
      parse: parseNonEmpty,
      group,
      placeholder: 'file',
      describe: 'client private key (PEM) for etcd mutual TLS',
    }),
    etcdUser: option({
      env: [`${envPrefix}_ETCD_USER`, 'ETCD_USER'],
      default: '',
      parse: parseNonEmpty,
      group,
      placeholder: 'name',
      describe: 'etcd user name (password auth)',
    }),
    etcdPassword: option({
      env: [`${envPrefix}_ETCD_PASSWORD`, 'ETCD_PASSWORD'],
      default: '',
      parse: parseNonEmpty,
      group,
      placeholder: 'secret',
      describe: 'etcd password; prefer the environment variable over the flag',
    }),
    etcdTimeout: option({
      env: [`${envPrefix}_ETCD_TIMEOUT`],
      default: 3000,
      defaultText: '3s',
      parse: durationAtLeast(100, 60_000),
      group,
      placeholder: 'duration',
      describe: 'deadline for each etcd request',
    }),
  };
}

/** Cross-checks that need several etcd options; returns problems naming the flags. */
export function checkEtcdSettings(s: EtcdSettings): string[] {
  const problems: string[] = [];
  if ((s.etcdCert === '') !== (s.etcdKey === '')) problems.push('--etcd-cert and --etcd-key: give both or neither');
  if ((s.etcdUser === '') !== (s.etcdPassword === ''))
    problems.push('--etcd-user and --etcd-password: give both or neither');
  const tls = s.etcdEndpoints.some((e) => e.startsWith('https://'));
  if (s.etcdCa !== '' && !tls) problems.push('--etcd-ca: TLS files given but no --etcd-endpoints URL uses https://');
  for (const [flag, file] of [
    ['--etcd-ca', s.etcdCa],
    ['--etcd-cert', s.etcdCert],
    ['--etcd-key', s.etcdKey],
  ] as const) {
    if (file === '') continue;
    try {
      readFileSync(file);
    } catch (err) {
      problems.push(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return problems;
}

const hasLeader: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('hasleader', 'true');
      next(metadata, listener);
    },
  });

export function etcdClientOptions(s: EtcdSettings): IOptions {
  const tls = s.etcdEndpoints.some((e) => e.startsWith('https://'));
  const options: IOptions = {
    hosts: [...s.etcdEndpoints],
    grpcOptions: {
      // etcd answers pings closer than its --grpc-keepalive-min-time (5 s) with "too_many_pings" and a
      // GOAWAY, and pings on a channel without streams are strikes too (PermitWithoutStream=false):
      // 6 s leaves room for timer jitter, and idle channels carry no call a ping would protect.
      'grpc.keepalive_time_ms': 6000,
      'grpc.keepalive_timeout_ms': 2000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // grpc-js takes client interceptors through the channel options object etcd3 passes on.
      interceptors: [hasLeader],
    } as IOptions['grpcOptions'],
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + s.etcdTimeout }),
    faultHandling: {
      host: () => noop,
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: 1,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 3000 }) as never,
    },
  };
  if (tls) {
    options.credentials = {
      rootCertificate: s.etcdCa !== '' ? readFileSync(s.etcdCa) : (undefined as unknown as Buffer),
      ...(s.etcdKey !== '' ? { privateKey: readFileSync(s.etcdKey), certChain: readFileSync(s.etcdCert) } : {}),
    };
  }
  if (s.etcdUser !== '') {
    options.auth = {
      username: s.etcdUser,
      password: s.etcdPassword,
      callOptions: () => ({ deadline: Date.now() + s.etcdTimeout }),
    };
  }
  return options;
}

export function createEtcdClient(s: EtcdSettings): Etcd3 {
  return new Etcd3(etcdClientOptions(s));
}
