// Rewrites the option tables in README.md from the programs' option definitions (after a build):
//   npx tsc -p tsconfig.build.json && node scripts/options-tables.mjs
// A unit test fails when README and the definitions disagree.
import { readFileSync, writeFileSync } from 'node:fs';

const { renderMarkdownTable } = await import('../dist/common/options.js');
const tables = {
  'sidekick-options': (await import('../dist/sidekick/config.js')).sidekickOptions,
  'balancer-options': (await import('../dist/balancer/config.js')).balancerOptions,
};
let readme = readFileSync('README.md', 'utf8');
for (const [marker, defs] of Object.entries(tables)) {
  const re = new RegExp(`(<!-- ${marker} -->\\n)(?:[\\s\\S]*?\\n)?(<!-- /${marker} -->)`);
  if (!re.test(readme)) throw new Error(`README.md has no <!-- ${marker} --> block`);
  readme = readme.replace(re, (_m, a, b) => `${a}${renderMarkdownTable(defs)}\n${b}`);
}
writeFileSync('README.md', readme);
