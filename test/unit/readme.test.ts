// The README is a promise to users: its option tables must be exactly what the programs accept.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderMarkdownTable } from '../../common/options.js';
import { balancerOptions } from '../../balancer/config.js';
import { sidekickOptions } from '../../sidekick/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it.each([
    ['sidekick-options', sidekickOptions],
    ['balancer-options', balancerOptions],
  ] as const)('the %s table matches the option definitions (run scripts/options-tables.mjs)', (marker, defs) => {
    expect(readme).toContain(`<!-- ${marker} -->\n${renderMarkdownTable(defs)}\n<!-- /${marker} -->`);
  });

  it('gives exactly the two quick-start commands', () => {
    const quick = readme.split('## Quick start')[1]?.split('```sh')[1]?.split('```')[0] ?? '';
    const commands = quick
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean);
    expect(commands).toEqual(['npm run demo', 'npm test']);
  });
});
