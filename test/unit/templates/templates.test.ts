// The deployment templates are promises too: systemd units that systemd accepts and that wire the
// sidekick's lifecycle to its service's, fleet variants that spread and co-locate, and a compose
// file that describes a working local cluster. systemd-analyze and docker-compose run when present.
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const run = promisify(execFile);
const templates = join(import.meta.dirname, '..', '..', '..', 'templates');
const read = (...parts: string[]): string => readFileSync(join(templates, ...parts), 'utf8');

type Unit = Record<string, Record<string, string[]>>;

/** systemd's unit syntax, enough for our files: sections, repeated keys, comments, continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1] as string;
      if (unit[name]) throw new Error(`line ${i + 1}: section [${name}] twice`);
      section = unit[name] = {};
      continue;
    }
    const kv = /^([A-Za-z0-9-]+)\s*=\s*(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`line ${i + 1}: not a key=value inside a section: ${line}`);
    (section[kv[1] as string] ??= []).push(kv[2] as string);
  }
  return unit;
}

/** The single value of a key (the test fails if it is missing or repeated). */
function one(unit: Unit, section: string, key: string): string {
  const values = unit[section]?.[key] ?? [];
  expect(values, `[${section}] ${key}`).toHaveLength(1);
  return values[0] as string;
}

/** Space-separated list keys (After=, Wants=, ...) across repeats. */
const list = (unit: Unit, section: string, key: string): string[] =>
  (unit[section]?.[key] ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);

const seconds = (v: string): number => {
  const m = /^(\d+)(s|min)?$/.exec(v);
  if (!m) throw new Error(`unexpected time span ${v}`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
};

const UNITS = ['sidekick.service', 'balancer.service', 'web@.service', 'web-sidekick@.service'] as const;
const plain = Object.fromEntries(UNITS.map((f) => [f, parseUnit(read(f))])) as Record<(typeof UNITS)[number], Unit>;
const fleet = Object.fromEntries(UNITS.map((f) => [f, parseUnit(read('fleet', f))])) as Record<
  (typeof UNITS)[number],
  Unit
>;

describe('unit file parser', () => {
  it('reads sections, repeated keys and rejects stray lines', () => {
    const u = parseUnit('# c\n[Unit]\nAfter=a b\nAfter=c\n\n[Service]\nExecStart=/bin/x \\\n  --y\n');
    expect(u).toEqual({ Unit: { After: ['a b', 'c'] }, Service: { ExecStart: ['/bin/x    --y'] } });
    expect(list(u, 'Unit', 'After')).toEqual(['a', 'b', 'c']);
    expect(() => parseUnit('After=a\n')).toThrow(/not a key=value inside a section/);
    expect(() => parseUnit('[Unit]\n[Unit]\n')).toThrow(/twice/);
  });
});

describe('systemd units (templates/)', () => {
  it('every unit has a description, one ExecStart, and a restart policy', () => {
    for (const [name, u] of [...Object.entries(plain), ...Object.entries(fleet)]) {
      expect(one(u, 'Unit', 'Description'), name).not.toBe('');
      expect(one(u, 'Service', 'ExecStart'), name).toMatch(/^\//);
      expect(one(u, 'Service', 'Restart'), name).toBe('always');
    }
  });

  it('host-wide sidekick: reads /etc/default/sidekick, may read the Docker socket, SIGTERM with time to revoke', () => {
    const u = plain['sidekick.service'];
    expect(u.Service?.EnvironmentFile).toContain('-/etc/default/sidekick');
    expect(one(u, 'Service', 'ExecStart')).toBe('/usr/local/bin/sidekick');
    expect(one(u, 'Service', 'SupplementaryGroups')).toBe('docker');
    expect(one(u, 'Service', 'KillSignal')).toBe('SIGTERM');
    // Revoking takes one etcd request (--etcd-timeout 3 s); much longer only delays a reboot.
    expect(seconds(one(u, 'Service', 'TimeoutStopSec'))).toBeGreaterThanOrEqual(5);
    expect(seconds(one(u, 'Service', 'TimeoutStopSec'))).toBeLessThanOrEqual(60);
    expect(list(u, 'Unit', 'After')).toContain('docker.service');
    expect(one(u, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('the balancer reads /etc/default/balancer and gets longer than its --grace (10 s) to stop', () => {
    const u = plain['balancer.service'];
    expect(u.Service?.EnvironmentFile).toContain('-/etc/default/balancer');
    expect(one(u, 'Service', 'ExecStart')).toBe('/usr/local/bin/balancer');
    expect(one(u, 'Service', 'KillSignal')).toBe('SIGTERM');
    expect(seconds(one(u, 'Service', 'TimeoutStopSec'))).toBeGreaterThan(10);
  });

  it('web@ runs container web-%i labelled sidekick.service=web and removes a leftover first', () => {
    const u = plain['web@.service'];
    expect(one(u, 'Service', 'ExecStart')).toMatch(
      /^\/usr\/bin\/docker run --rm --name web-%i -l sidekick\.service=web -p \S+ \S+$/,
    );
    expect(one(u, 'Service', 'ExecStartPre')).toBe('-/usr/bin/docker rm -f web-%i');
    expect(one(u, 'Service', 'ExecStop')).toMatch(/^\/usr\/bin\/docker stop (-t \d+ )?web-%i$/);
    expect(list(u, 'Unit', 'Requires')).toContain('docker.service');
  });

  it('web-sidekick@ follows web-%i and lives and dies with web@%i (BindsTo + After)', () => {
    const u = plain['web-sidekick@.service'];
    expect(one(u, 'Unit', 'BindsTo')).toBe('web@%i.service');
    expect(list(u, 'Unit', 'After')).toContain('web@%i.service');
    // Several per host: a fixed metrics port would collide, so it is switched off.
    expect(one(u, 'Service', 'ExecStart')).toBe('/usr/local/bin/sidekick --container web-%i --metrics off');
    expect(u.Service?.EnvironmentFile).toContain('-/etc/default/sidekick');
    expect(one(u, 'Service', 'KillSignal')).toBe('SIGTERM');
    expect(seconds(one(u, 'Service', 'TimeoutStopSec'))).toBeGreaterThanOrEqual(5);
    expect(one(u, 'Service', 'SupplementaryGroups')).toBe('docker');
    // `systemctl enable web-sidekick@1` hooks it to web@1.
    expect(one(u, 'Install', 'WantedBy')).toBe('web@%i.service');
  });

  it('the environment files set the etcd endpoints', () => {
    for (const f of ['sidekick', 'balancer']) expect(read('default', f)).toMatch(/^ETCD_ENDPOINTS=http:\/\/\S+$/m);
  });
});

describe('fleet units (templates/fleet/)', () => {
  it('run the host-wide sidekick and the balancer on every machine', () => {
    expect(fleet['sidekick.service']['X-Fleet']).toEqual({ Global: ['true'] });
    expect(fleet['balancer.service']['X-Fleet']).toEqual({ Global: ['true'] });
  });

  it('spread web@ instances and put each sidekick on its instance’s machine, bound to it', () => {
    expect(fleet['web@.service']['X-Fleet']).toEqual({ Conflicts: ['web@*.service'] });
    const sk = fleet['web-sidekick@.service'];
    expect(sk['X-Fleet']).toEqual({ MachineOf: ['web@%i.service'] });
    expect(one(sk, 'Unit', 'BindsTo')).toBe('web@%i.service');
    expect(list(sk, 'Unit', 'After')).toContain('web@%i.service');
  });

  it('web@ runs exactly what the plain web@ runs', () => {
    expect(fleet['web@.service'].Service).toEqual(plain['web@.service'].Service);
  });

  it.each(['sidekick.service', 'web-sidekick@.service'] as const)(
    '%s runs the sidekick image non-root with /var/run read-only and stops it with docker stop',
    (name) => {
      const u = fleet[name];
      const start = one(u, 'Service', 'ExecStart');
      const inner = /^\/bin\/sh -c '(.*)'$/.exec(start)?.[1];
      expect(inner, "ExecStart=/bin/sh -c '...'").toBeDefined();
      const script = inner as string;
      expect(script).toContain(' --network host ');
      expect(script).toContain(' -v /var/run:/var/run:ro ');
      expect(script).not.toMatch(/docker\.sock:/); // never the socket file itself (moby#31403)
      expect(script).toContain('--group-add "$$(stat -c %%g /var/run/docker.sock)"');
      // systemd expands $VAR and %x itself: every $ and % meant for the shell must be doubled.
      expect(script.replace(/\$\$/g, '').replace(/%%|%i/g, '')).not.toMatch(/[$%]/);
      if (name === 'web-sidekick@.service')
        expect(script).toMatch(/"\$\$SIDEKICK_IMAGE" --container web-%i --metrics off$/);
      expect(one(u, 'Service', 'ExecStop')).toMatch(/^\/usr\/bin\/docker stop -t \d+ sidekick(-web-%i)?$/);
      expect(seconds(one(u, 'Service', 'TimeoutStopSec'))).toBeGreaterThan(10);
    },
  );
});

const systemdAnalyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/**
 * Copies unit files to a temp dir with each Exec* command replaced by a stub of the same name
 * (systemd-analyze checks that the binary exists), adds a stub docker.service, and runs
 * `systemd-analyze verify` on the given unit names (templates as instance 1).
 */
async function verify(files: ReadonlyArray<{ name: string; text: string }>): Promise<{ code: number; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sk-units-'));
  scratch.push(dir);
  mkdirSync(join(dir, 'bin'));
  const stub = (cmd: string): string => {
    const path = join(dir, 'bin', basename(cmd));
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o755);
    return path;
  };
  for (const f of files) {
    const text = f.text.replace(
      /^(Exec\w+=[-@:+!]*)(\/\S+)/gm,
      (_m, prefix: string, cmd: string) => `${prefix}${stub(cmd)}`,
    );
    writeFileSync(join(dir, f.name), text);
  }
  writeFileSync(join(dir, 'docker.service'), '[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n');
  const names = files.map((f) => join(dir, f.name.replace('@.', '@1.')));
  try {
    const { stderr } = await run(systemdAnalyze as string, ['verify', '--man=no', ...names], { timeout: 30_000 });
    return { code: 0, stderr: stderr.trim() };
  } catch (err) {
    const e = err as Error & { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stderr: e.stderr?.trim() ?? e.message };
  }
}

describe.skipIf(!systemdAnalyze)('systemd-analyze verify', () => {
  const texts = (sub: string[]) => UNITS.map((name) => ({ name, text: read(...sub, name) }));

  it.each([
    ['templates/', [] as string[]],
    ['templates/fleet/', ['fleet']],
  ])('accepts every unit in %s without a warning', async (_title, sub) => {
    expect(await verify(texts(sub))).toEqual({ code: 0, stderr: '' });
  });

  it('is strict enough to catch a wrong BindsTo and an unknown key (so the checks above can fail)', async () => {
    const broken = texts([]).map((f) =>
      f.name === 'web-sidekick@.service'
        ? { ...f, text: f.text.replace('BindsTo=web@%i.service', 'BindsTo=nope@%i.service') }
        : f,
    );
    const r1 = await verify(broken);
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain('nope@1.service');
    const typo = texts([]).map((f) =>
      f.name === 'sidekick.service' ? { ...f, text: f.text.replace('KillSignal=', 'KilSignal=') } : f,
    );
    expect((await verify(typo)).stderr).toContain("Unknown key 'KilSignal'");
  });
});

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  labels?: Record<string, string>;
  group_add?: string[];
  networks?: string[];
  ports?: string[];
  depends_on?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: Record<string, { name?: string }>;
  volumes: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');
const compose = parseYaml(composeText, { merge: true }) as ComposeFile;

describe('templates/docker-compose.yml', () => {
  const { services } = compose;

  it('runs etcd, the balancer, one sidekick and at least three web containers, all from local images', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['etcd', 'balancer', 'sidekick']));
    expect(services.etcd?.image).toBe('sidekick-local/etcd:latest');
    expect(services.balancer?.image).toBe('sidekick-local/balancer:latest');
    expect(services.sidekick?.image).toBe('sidekick-local/sidekick:latest');
    const web = Object.entries(services).filter(([name]) => name.startsWith('web'));
    expect(web.length).toBeGreaterThanOrEqual(3);
    for (const [name, s] of web) {
      expect(s.image, name).toBe('sidekick-demo/web:latest');
      expect(s.labels, name).toEqual({ 'sidekick.service': 'web' });
    }
  });

  it('mounts /var/run read-only into the sidekick, never the socket file, and joins the socket group', () => {
    const sk = services.sidekick as ComposeService;
    expect(sk.volumes).toEqual(['/var/run:/var/run:ro']);
    expect(JSON.stringify(sk)).not.toContain('docker.sock:');
    expect(sk.group_add).toHaveLength(1);
    expect(sk.group_add?.[0]).toMatch(/^\$\{DOCKER_GID:\?/);
  });

  it('points both programs at the etcd service, the sidekick at the network of balancer and web containers', () => {
    const etcdUrl = services.etcd?.command?.find((a) => a.startsWith('--advertise-client-urls='))?.split('=')[1];
    expect(etcdUrl).toBe('http://etcd:2379');
    expect(services.etcd?.command).toContain('--listen-client-urls=http://0.0.0.0:2379');
    expect(services.balancer?.environment?.ETCD_ENDPOINTS).toBe(etcdUrl);
    expect(services.sidekick?.environment?.ETCD_ENDPOINTS).toBe(etcdUrl);
    expect(services.sidekick?.environment?.SIDEKICK_ADDRESS).toBe('container');
    const [key, net] = Object.entries(compose.networks)[0] ?? [];
    expect(services.sidekick?.environment?.SIDEKICK_NETWORK).toBe(net?.name);
    for (const [name, s] of Object.entries(services)) expect(s.networks, name).toEqual([key]);
    expect(services.balancer?.environment?.BALANCER_DEFAULT_SERVICE).toBe('web');
    expect(services.balancer?.ports).toContain('127.0.0.1:8080:8080');
  });
});

async function composeCli(): Promise<string[] | undefined> {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const ok = await run(cmd[0] as string, [...cmd.slice(1), 'version'], { timeout: 15_000 }).then(
      () => true,
      () => false,
    );
    if (ok) return cmd;
  }
  return undefined;
}
const cli = await composeCli();

describe.skipIf(!cli)('compose config -q', () => {
  const config = (env: Record<string, string | undefined>) => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-compose-'));
    scratch.push(dir);
    cpSync(join(templates, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    const c = cli as string[];
    return run(c[0] as string, [...c.slice(1), '-f', join(dir, 'docker-compose.yml'), 'config', '-q'], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
  };

  it('accepts the file with DOCKER_GID set', async () => {
    await expect(config({ DOCKER_GID: '999' })).resolves.toBeDefined();
  });

  it('refuses it without DOCKER_GID, naming the variable', async () => {
    await expect(config({ DOCKER_GID: undefined })).rejects.toThrow(/DOCKER_GID/);
  });
});
