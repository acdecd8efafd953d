// Stable error codes, so logs, metrics and tests can match on them rather than on messages.
export const ErrorCode = {
  config: 'ERR_CONFIG',
  etcdUnavailable: 'ERR_ETCD_UNAVAILABLE',
  etcdAuth: 'ERR_ETCD_AUTH',
  leaseLost: 'ERR_LEASE_LOST',
  dockerUnavailable: 'ERR_DOCKER_UNAVAILABLE',
  /** Another live sidekick publishes entries under the same --node name. */
  duplicateNode: 'ERR_DUPLICATE_NODE',
  invalidEntry: 'ERR_INVALID_ENTRY',
  invalidRoute: 'ERR_INVALID_ROUTE',
  noPort: 'ERR_NO_PORT',
  noAddress: 'ERR_NO_ADDRESS',
  requestHandler: 'ERR_REQUEST_HANDLER',
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
