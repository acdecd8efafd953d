// A tiny declarative option engine: flags > environment > defaults, every error reported at once,
// the result frozen. Both programs describe their options as a table, which also renders --help
// and the README tables, so docs and behaviour cannot drift apart.
import { ConfigError } from './errors.js';

export interface OptionDef<T> {
  readonly env: readonly string[];
  readonly default: T;
  /** Turns the raw text into a value; throws an Error whose message says what was expected. */
  readonly parse: (raw: string) => T;
  readonly group: string;
  readonly describe: string;
  /** How the default reads in docs when it is computed (e.g. "hostname"). */
  readonly defaultText?: string;
  /** A boolean flag may stand alone (`--all`) and takes `=true|false`. */
  readonly boolean?: boolean;
  /** A repeatable flag collects every occurrence (env: comma or newline separated); `parse`
   *  turns one occurrence into a list and the lists are concatenated. */
  readonly repeatable?: boolean;
  readonly placeholder?: string;
}

export type OptionDefs = Record<string, OptionDef<unknown>>;
export type OptionValues<D extends OptionDefs> = {
  readonly [K in keyof D]: D[K] extends OptionDef<infer T> ? T : never;
};

export function option<T>(def: OptionDef<T>): OptionDef<T> {
  return def;
}

/** camelCase key ↔ kebab-case flag */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export interface ParsedArgs<D extends OptionDefs> {
  readonly values: OptionValues<D>;
  readonly help: boolean;
  readonly version: boolean;
}

/**
 * Parses argv (without node and script) and env. Throws ConfigError listing every problem,
 * including those of `check` (cross-option rules), which sees defaults in place of invalid values.
 */
export function parseOptions<D extends OptionDefs>(
  defs: D,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  check?: (values: OptionValues<D>) => readonly string[],
): ParsedArgs<D> {
  const byFlag = new Map(Object.keys(defs).map((k) => [flagName(k), k]));
  const errors: string[] = [];
  const fromFlags = new Map<string, string[]>();
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--version' || arg === '-v') {
      version = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      errors.push(`unexpected argument ${JSON.stringify(arg)} (options start with --)`);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = byFlag.get(flag);
    const def = key === undefined ? undefined : defs[key];
    if (key === undefined || def === undefined) {
      errors.push(`${flag}: unknown option (see --help)`);
      continue;
    }
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (def.boolean) raw = 'true';
    else if (i + 1 < argv.length) raw = argv[++i] ?? '';
    else {
      errors.push(`${flag}: needs a value`);
      continue;
    }
    const list = fromFlags.get(key) ?? [];
    list.push(raw);
    fromFlags.set(key, list);
  }
  const values: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(defs)) {
    const flag = flagName(key);
    const raws = fromFlags.get(key);
    let source = flag;
    let rawList: string[] | undefined = raws;
    if (rawList === undefined) {
      const envName = def.env.find((n) => env[n] !== undefined && env[n] !== '');
      if (envName !== undefined) {
        source = `${flag} (from ${envName})`;
        const text = env[envName] ?? '';
        rawList = def.repeatable
          ? text
              .split(/[\n,]/)
              .map((s) => s.trim())
              .filter((s) => s.length > 0)
          : [text];
      }
    }
    if (rawList === undefined) {
      values[key] = def.default;
      continue;
    }
    if (!def.repeatable && rawList.length > 1) {
      errors.push(`${flag}: given more than once`);
      continue;
    }
    try {
      if (def.repeatable) {
        values[key] = Object.freeze(rawList.flatMap((r) => def.parse(r) as readonly unknown[]));
      } else {
        values[key] = def.parse(rawList[0] ?? '');
      }
    } catch (err) {
      errors.push(`${source}: ${(err as Error).message}`);
      values[key] = def.default;
    }
  }
  if (check) errors.push(...check(values as OptionValues<D>));
  if (errors.length > 0) throw new ConfigError(errors);
  return { values: Object.freeze(values) as OptionValues<D>, help, version };
}

function defaultText(def: OptionDef<unknown>): string {
  if (def.defaultText !== undefined) return def.defaultText;
  const d = def.default;
  if (d === undefined || d === '' || (Array.isArray(d) && d.length === 0)) return '';
  return Array.isArray(d) ? d.join(',') : String(d);
}

/** --help text, grouped. */
export function renderHelp<D extends OptionDefs>(defs: D, usage: string, examples: readonly string[]): string {
  const groups = new Map<string, string[]>();
  for (const [key, def] of Object.entries(defs)) {
    const head = `  ${flagName(key)}${def.boolean ? '' : ` <${def.placeholder ?? 'value'}>`}`;
    const dflt = defaultText(def);
    const env = def.env.length > 0 ? ` [env ${def.env.join(', ')}]` : '';
    const line = `${head.padEnd(34)} ${def.describe}${dflt ? ` (default ${dflt})` : ''}${env}`;
    groups.set(def.group, [...(groups.get(def.group) ?? []), line]);
  }
  const parts = [usage, ''];
  for (const [group, lines] of groups) parts.push(`${group}:`, ...lines, '');
  parts.push(
    'Other:',
    '  --help, -h                         show this help',
    '  --version, -v                      print the version',
    '',
  );
  if (examples.length > 0) parts.push('Examples:', ...examples.map((e) => `  ${e}`), '');
  return parts.join('\n');
}

const mdEscape = (text: string): string => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The README table for a program's options. */
export function renderMarkdownTable<D extends OptionDefs>(defs: D): string {
  const rows = ['| flag | environment | default | meaning |', '|---|---|---|---|'];
  for (const [key, def] of Object.entries(defs)) {
    const dflt = defaultText(def);
    const repeat = def.repeatable ? ' (repeatable)' : '';
    const env = def.env.map((e) => `\`${e}\``).join(', ');
    rows.push(`| \`${flagName(key)}\`${repeat} | ${env} | ${dflt ? `\`${dflt}\`` : ''} | ${mdEscape(def.describe)} |`);
  }
  return rows.join('\n');
}
