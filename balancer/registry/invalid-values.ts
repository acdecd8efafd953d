// Invalid registry values are logged and counted once per key and value: a resync or a consistency
// check re-reads every key, and must not report the same garbage again; a new bad value must be.
import { createHash } from 'node:crypto';
import { ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { classifyKey, decodeDelete, decodePut, type DecoderOptions, type Rejection } from './registry-decoder.js';
import type { RegistryEvent } from '../types.js';

export class InvalidValues {
  /** key → hash of the invalid value already reported. */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly decoder: DecoderOptions,
    private readonly log: Logger,
    private readonly onInvalid: ((key: string, reason: string) => void) | undefined,
  ) {}

  /** A watched put or delete → the event to apply; an invalid value is reported and removes the key. */
  decodeChange(key: string, put: boolean, value: Buffer): RegistryEvent | undefined {
    const decoded = put ? decodePut(this.decoder, key, value) : undefined;
    if (decoded === undefined || (decoded.ok && decoded.partial === undefined)) this.reported.delete(key);
    if (decoded === undefined) return decodeDelete(this.decoder, key);
    if (decoded.ok) {
      if (decoded.partial !== undefined) this.reject(decoded.partial, value, true); // served, minus its bad routes
      return decoded.event;
    }
    this.reject(decoded.rejection, value);
    return decoded.removal; // never keep serving a value we can no longer validate
  }

  /**
   * After a snapshot: report its refused values (and entries served without their bad routes), forget
   * keys that are valid again (except those `skip` names).
   */
  snapshot(
    rejected: readonly { rejection: Rejection; value: Buffer; partial?: boolean }[],
    skip: (key: string) => boolean,
  ): void {
    for (const { rejection, value, partial } of rejected) this.reject(rejection, value, partial === true);
    const invalid = new Set(rejected.map((r) => r.rejection.key));
    for (const key of this.reported.keys()) if (!invalid.has(key) && !skip(key)) this.reported.delete(key);
  }

  /** `declared`: the entry is served; only its invalid declared routes are skipped. */
  private reject(rejection: Rejection, value: Buffer, declared = false): void {
    const hash = createHash('sha256').update(value).digest('base64');
    if (this.reported.get(rejection.key) === hash) return;
    this.reported.set(rejection.key, hash);
    const route = declared || classifyKey(this.decoder, rejection.key) === 'route';
    this.log.warn(
      {
        key: rejection.key,
        reason: rejection.reason,
        value: value.toString('utf8', 0, 200),
        code: route ? ErrorCode.invalidRoute : ErrorCode.invalidEntry,
      },
      declared ? 'invalid declared route skipped; the entry is served' : 'invalid registry value skipped',
    );
    this.onInvalid?.(rejection.key, rejection.reason);
  }
}
