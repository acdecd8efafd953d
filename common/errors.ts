// Stable error codes, so logs, metrics and tests can match on them rather than on messages.
export const ErrorCode = {
  config: 'ERR_CONFIG',
  etcdUnavailable: 'ERR_ETCD_UNAVAILABLE',
  etcdAuth: 'ERR_ETCD_AUTH',
  dockerUnavailable: 'ERR_DOCKER_UNAVAILABLE',
  /** Another live sidekick publishes entries under the same --node name. */
  duplicateNode: 'ERR_DUPLICATE_NODE',
  invalidEntry: 'ERR_INVALID_ENTRY',
  invalidRoute: 'ERR_INVALID_ROUTE',
  /** Two parties declare the same host + path; resolved deterministically (see declared-routes.ts). */
  routeConflict: 'ERR_ROUTE_CONFLICT',
  requestHandler: 'ERR_REQUEST_HANDLER',
  /** A certificate (or its chain) that does not parse, or that OpenSSL refuses to serve. */
  tlsCert: 'ERR_TLS_CERT',
  /** A private key that does not parse (also: encrypted keys, which need a passphrase we never have). */
  tlsKey: 'ERR_TLS_KEY',
  /** A parseable key that is not the certificate's key. */
  tlsKeyMismatch: 'ERR_TLS_KEY_MISMATCH',
  /** A certificate or key file that cannot be read (missing, permissions). */
  tlsFileRead: 'ERR_TLS_FILE_READ',
  /** The access log destination cannot be opened or written. */
  accessLog: 'ERR_ACCESS_LOG',
  /** A message to a worker of --workers N failed (its IPC channel broke: it just died). */
  workerIpc: 'ERR_WORKER_IPC',
  /** An active health check's handler threw; the checks go on. */
  healthCheck: 'ERR_HEALTH_CHECK',
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CodedError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CodedError';
  }
}

/** Invalid configuration: every problem, each naming its flag. main exits 2 on it. */
export class ConfigError extends CodedError {
  constructor(readonly problems: readonly string[]) {
    super(ErrorCode.config, problems.join('; '));
    this.name = 'ConfigError';
  }
}
