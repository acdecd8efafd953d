import { describe, expect, it } from 'vitest';
import { logFormat } from '../../../common/logger.js';

describe('logFormat', () => {
  it.each([
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
  ] as const)('--log-format %s with a terminal=%s gives %s', (setting, tty, want) => {
    expect(logFormat(setting, tty)).toBe(want);
  });
});
