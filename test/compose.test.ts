import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../origin/db/database.js';
import { migrate, migrationStatus } from '../origin/db/migrate.js';
import { parseEnv } from '../origin/env.js';
import { type Cluster, runInitScript, startCluster } from './support/compose-cluster.js';
import {
  type ComposeFile,
  dependenciesOf,
  type Env,
  environmentOf,
  hasHealthcheck,
  interpolate,
  networksOf,
  operatorEnv,
  parseEnvExample,
  passThroughNames,
  type Reference,
  read,
  readCompose,
  resolveValues,
  root,
  type Service,
} from './support/compose-file.js';

/**
 * The origin's compose stack, checked without a Docker engine: origin/compose.yaml against the
 * Compose Specification's JSON schema and against the stack's own rules (nothing published but
 * cloudflared's loopback metrics, pinned images, restarts, limits, health-gated start order, every
 * variable explained in origin/.env.example), origin/Dockerfile and .dockerignore by reading them,
 * and the db service's init script and tuned postgresql.conf by running them on a private
 * PostgreSQL 15 + PostGIS cluster. Each rule has a test showing that it fails on a broken copy.
 */

/** The only service that may publish a port (and only on loopback). */
const PUBLISHER = 'cloudflared';
const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]']);

/** The host address a port mapping binds to, or undefined when it binds every interface. */
function hostIp(port: NonNullable<Service['ports']>[number]): string | undefined {
  if (typeof port === 'object') return port.host_ip;
  const text = String(port);
  const bracketed = /^(\[[^\]]+\]):/.exec(text);
  if (bracketed) return bracketed[1];
  const parts = text.split(':');
  return parts.length === 3 ? parts[0] : undefined;
}

/** A pinned image reference: a tag other than `latest`, or a digest. */
function imageProblem(image: string): string | undefined {
  if (/@sha256:[a-f0-9]{64}$/.test(image)) return undefined;
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  if (colon === -1) return `${image} has no tag (it means latest)`;
  const tag = image.slice(colon + 1);
  if (tag === '' || tag === 'latest') return `${image} is not pinned`;
  return undefined;
}

/** Every breach of the stack's rules, as sentences; [] when there is none. */
function composeProblems(compose: ComposeFile, envExampleText: string): string[] {
  const problems: string[] = [];
  const example = parseEnvExample(envExampleText);
  const services = compose.services ?? {};

  // --- variables: used ones declared, declared ones used, none required in a profile
  const refs: Reference[] = [];
  const interpolationErrors: string[] = [];
  const { services: _services, ...rest } = compose;
  resolveValues(rest, {}, refs, interpolationErrors);
  const usedBy = new Map<string, string>();
  for (const [name, service] of Object.entries(services)) {
    const serviceRefs: Reference[] = [];
    resolveValues(service, {}, serviceRefs, interpolationErrors);
    for (const r of serviceRefs) {
      usedBy.set(r.name, name);
      if (r.required && service.profiles?.length) {
        problems.push(
          `${name} requires ${r.name} but is in a profile: Compose interpolates inactive profiles too`,
        );
      }
    }
    for (const n of passThroughNames(service)) usedBy.set(n, name);
    refs.push(...serviceRefs);
  }
  for (const r of refs) usedBy.set(r.name, usedBy.get(r.name) ?? 'top level');
  for (const secret of Object.values(compose.secrets ?? {})) {
    if (secret.environment) usedBy.set(secret.environment, 'secrets');
  }
  problems.push(...interpolationErrors.filter((e) => !e.startsWith('required variable')));
  for (const [name, where] of usedBy) {
    if (!example.declarations.has(name)) {
      problems.push(`${name} (used by ${where}) is not explained in origin/.env.example`);
    }
  }
  for (const d of example.declarations.values()) {
    if (!usedBy.has(d.name)) problems.push(`${d.name} is in origin/.env.example but unused`);
  }

  // --- services, resolved as an operator's origin/.env would
  const env = operatorEnv(example);
  const resolved = resolveValues(compose, env, [], []) as ComposeFile;
  const oneShot = new Set(
    Object.values(resolved.services).flatMap((s) =>
      Object.entries(dependenciesOf(s))
        .filter(([, d]) => d.condition === 'service_completed_successfully')
        .map(([name]) => name),
    ),
  );
  // Per build definition: api, migrate and backup share the origin's one image; the db image
  // (origin/postgres/Dockerfile) is another build, and may be another image.
  const builtImages = new Map<string, Set<string>>();
  for (const [name, s] of Object.entries(resolved.services)) {
    if (!s.image) problems.push(`${name} has no image`);
    else {
      const bad = imageProblem(s.image);
      if (bad) problems.push(`${name}: ${bad}`);
      if (s.build) {
        const key = JSON.stringify(s.build);
        builtImages.set(key, (builtImages.get(key) ?? new Set()).add(s.image));
      }
    }
    // A job in a profile with `restart: 'no'` is run by hand (`docker compose run --rm`).
    const job = Boolean(s.profiles?.length) && s.restart === 'no';
    if (oneShot.has(name) || job) {
      if (s.restart !== undefined && s.restart !== 'no') {
        problems.push(`${name} runs once but restarts (${s.restart})`);
      }
    } else if (s.restart !== 'unless-stopped' && s.restart !== 'always') {
      problems.push(`${name} does not restart (restart: ${s.restart ?? 'unset'})`);
    }
    if (s.network_mode === 'host') problems.push(`${name} uses the host's network`);
    for (const port of s.ports ?? []) {
      if (name !== PUBLISHER) problems.push(`${name} publishes port ${JSON.stringify(port)}`);
      else if (!LOOPBACK.has(hostIp(port) ?? '')) {
        problems.push(`${name} publishes ${JSON.stringify(port)} beyond the loopback interface`);
      }
    }
    const limits = s.deploy?.resources?.limits;
    if (!(limits?.memory ?? s.mem_limit)) problems.push(`${name} has no memory limit`);
    if (!(limits?.cpus ?? s.cpus)) problems.push(`${name} has no CPU limit`);
    const logging = s.logging;
    if (!logging || !['json-file', 'local'].includes(logging.driver ?? '')) {
      problems.push(`${name} has no rotated log driver (json-file or local)`);
    } else if (!logging.options?.['max-size']) problems.push(`${name} logs without max-size`);
    for (const secret of s.secrets ?? []) {
      const source = typeof secret === 'string' ? secret : secret.source;
      if (!resolved.secrets?.[source]) problems.push(`${name} uses undefined secret ${source}`);
    }
  }
  for (const images of builtImages.values()) {
    if (images.size > 1) {
      problems.push(`services built here use different images: ${[...images].join(', ')}`);
    }
  }

  // --- start order: known targets, conditions that can be met, no cycles
  for (const [name, s] of Object.entries(resolved.services)) {
    for (const [dep, d] of Object.entries(dependenciesOf(s))) {
      const target = resolved.services[dep];
      if (!target) {
        problems.push(`${name} depends on ${dep}, which does not exist`);
        continue;
      }
      if (d.condition === 'service_healthy' && !hasHealthcheck(target)) {
        problems.push(`${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      }
      if (d.condition === 'service_completed_successfully' && target.restart === 'unless-stopped') {
        problems.push(`${name} waits for ${dep} to complete, but ${dep} restarts forever`);
      }
      if (target.profiles?.length && !s.profiles?.length && d.required !== false) {
        problems.push(`${name} depends on ${dep}, which only runs with a profile`);
      }
    }
  }
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (done.has(name)) return;
    if (visiting.has(name)) {
      problems.push(`depends_on cycle: ${[...path, name].join(' -> ')}`);
      return;
    }
    visiting.add(name);
    const service = resolved.services[name];
    for (const dep of Object.keys(service ? dependenciesOf(service) : {})) {
      visit(dep, [...path, name]);
    }
    visiting.delete(name);
    done.add(name);
  };
  for (const name of Object.keys(resolved.services)) visit(name, []);
  const apiWaits = dependenciesOf(resolved.services.api ?? {}).migrate?.condition;
  if (apiWaits !== 'service_completed_successfully') {
    problems.push('api does not wait for migrate to complete successfully');
  }

  // --- the database has no route out
  for (const network of networksOf(resolved.services.db ?? {})) {
    if (resolved.networks?.[network]?.internal !== true) {
      problems.push(`db is on ${network}, which is not an internal network`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

type Instruction = { keyword: string; args: string };

/** Instructions in order, with continuation lines joined and comments dropped. */
function instructions(dockerfile: string): Instruction[] {
  const joined = dockerfile
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [keyword = '', ...args] = l.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: args.join(' ') };
    });
}

function dockerfileProblems(dockerfile: string): string[] {
  const problems: string[] = [];
  const all = instructions(dockerfile);
  const stages: Instruction[][] = [];
  const stageNames = new Set<string>();
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const [image = '', as, name] = ins.args.split(/\s+/).filter((a) => !a.startsWith('--'));
      // `FROM deps` names an earlier stage, not an image to pin.
      if (!stageNames.has(image)) {
        const bad = imageProblem(image);
        if (bad) problems.push(`FROM ${bad}`);
      }
      if (as?.toUpperCase() === 'AS' && name) stageNames.add(name);
      stages.push([]);
    }
    stages.at(-1)?.push(ins);
  }
  const final = stages.at(-1) ?? [];
  const user = final
    .filter((i) => i.keyword === 'USER')
    .at(-1)
    ?.args.split(':')[0];
  if (!user) problems.push('the final stage sets no USER: it runs as root');
  else if (user === 'root' || user === '0') problems.push(`the final stage runs as ${user}`);
  const health = final.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
  if (!health) problems.push('the final stage has no HEALTHCHECK');
  else if (/^NONE\b/i.test(health.args)) problems.push('the final stage disables HEALTHCHECK');
  if (!final.some((i) => i.keyword === 'CMD')) problems.push('the final stage has no CMD');
  return problems;
}

/**
 * Docker's .dockerignore semantics, as far as this repository needs them: patterns relative to
 * the context root, `*` within one path segment, `**` across segments, `!` re-includes, the last
 * matching line wins, and a pattern matching a directory matches everything under it.
 */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = (negated ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((segment) =>
          segment === '**'
            ? '.*'
            : segment
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negated, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regex.test(p))) ignored = !rule.negated;
    }
    return ignored;
  };
}

function filesUnder(dir: string): string[] {
  const abs = join(root, dir);
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

// ---------------------------------------------------------------------------------------------

const compose = readCompose();
const envExampleText = read('origin/.env.example');
const example = parseEnvExample(envExampleText);
const dockerfile = read('origin/Dockerfile');

/** A changed deep copy of the stack, for showing that a rule fails. */
function mutated(change: (c: ComposeFile) => void): ComposeFile {
  const copy = structuredClone(compose);
  change(copy);
  return copy;
}

/** A service's environment as an operator's origin/.env resolves it. */
function resolvedEnvironment(name: string, env: Env = operatorEnv(example)): Env {
  const errors: string[] = [];
  const service = resolveValues(compose.services[name], env, [], errors) as Service;
  expect(errors).toEqual([]);
  const out: Env = {};
  for (const [k, v] of Object.entries(environmentOf(service))) out[k] = v ?? env[k];
  return out;
}

describe('origin/compose.yaml', () => {
  it('is a valid Compose file by the Compose Specification JSON schema', () => {
    // A copy in the repository, so the test runs on a clean clone. Its `$schema` names draft-07
    // by an https URL that Ajv does not know; Ajv's default dialect is draft-07 anyway.
    const { $schema: _dialect, ...schema } = JSON.parse(read('test/fixtures/compose-spec.json'));
    const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(validate({ services: { api: { image: 'x:1', restart: 42 } } })).toBe(false);
  });

  it('breaks none of the rules: ports, pins, restarts, limits, logs, health, order, variables', () => {
    expect(composeProblems(compose, envExampleText)).toEqual([]);
  });

  it('starts the database, then the migrations to completion, then the API, then the tunnel', () => {
    const deps = (name: string) => dependenciesOf(compose.services[name] ?? {});
    expect(deps('migrate').db?.condition).toBe('service_healthy');
    expect(deps('api').db?.condition).toBe('service_healthy');
    expect(deps('api').migrate?.condition).toBe('service_completed_successfully');
    expect(deps('cloudflared').api?.condition).toBe('service_healthy');
    expect(deps('metabase').db?.condition).toBe('service_healthy');
    expect(compose.services.migrate?.restart).toBe('no');
  });

  it('gives the API an environment the origin accepts, setting every variable origin/env.ts reads', () => {
    const env = resolvedEnvironment('api');
    const parsed = parseEnv(env);
    expect(parsed).toMatchObject({
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      PORT: 8080,
      MIGRATE_ON_START: false,
      SEED_ON_START: false,
      BACKUP_STATUS_FILE: '/status/backup.json',
    });
    expect(new URL(parsed.DATABASE_URL ?? '').username).toBe('estate_app');
    // Every key of origin/env.ts's schema, read from its source so a new variable fails here.
    const source = read('origin/env.ts');
    const schema = source.slice(source.indexOf('const EnvSchema'), source.indexOf('\n});'));
    const keys = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]);
    expect(keys.length).toBeGreaterThan(20);
    const apiKeys = Object.keys(environmentOf(compose.services.api ?? {}));
    expect(keys.filter((k) => k && !apiKeys.includes(k))).toEqual([]);
  });

  it('runs the migrations as the schema owner with an environment the origin accepts', () => {
    const env = resolvedEnvironment('migrate');
    const parsed = parseEnv(env);
    expect(new URL(parsed.DATABASE_URL ?? '').username).toBe('estate_owner');
    expect(compose.services.migrate?.command).toEqual(['node', 'dist/origin/db/migrate-cli.js']);
  });

  it('refuses to start without the secrets it needs, naming the variable', () => {
    const errors: string[] = [];
    resolveValues(compose.services.api, {}, [], errors);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringContaining('ESTATE_APP_PASSWORD'),
        expect.stringContaining('EDGE_ASSERTION_SECRET'),
        expect.stringContaining('CURSOR_SECRET'),
      ]),
    );
  });

  it('keeps Metabase data in its own PostgreSQL database, never in H2', () => {
    const env = resolvedEnvironment('metabase');
    expect(env).toMatchObject({
      MB_DB_TYPE: 'postgres',
      MB_DB_HOST: 'db',
      MB_DB_DBNAME: 'metabase',
      MB_DB_USER: 'metabase',
      MB_DB_PASS_FILE: '/run/secrets/metabase_db_password',
    });
    expect(env.MB_DB_FILE).toBeUndefined();
    expect(env.MB_DB_PASS).toBeUndefined();
  });

  it('gives the backup service its settings and shares its status file read-only with the API', () => {
    const backup = resolvedEnvironment('backup');
    expect(backup).toMatchObject({
      BACKUP_DIR: '/backups',
      BACKUP_STATUS_FILE: '/status/backup.json',
      BACKUP_SCHEDULE: '0 2 * * *',
      BACKUP_VERIFY_SCHEDULE: '0 4 * * 0',
      BACKUP_RETENTION_DAILY: '7',
      BACKUP_RETENTION_WEEKLY: '4',
      BACKUP_RETENTION_MONTHLY: '6',
      BACKUP_ENCRYPTION: 'none',
      BACKUP_GPG_PASSPHRASE_FILE: '/run/secrets/backup_gpg_passphrase',
    });
    expect(new URL(backup.DATABASE_URL ?? '').username).toBe('estate_owner');
    expect(new URL(backup.METABASE_DATABASE_URL ?? '').pathname).toBe('/metabase');
    expect(new URL(backup.BACKUP_ADMIN_URL ?? '').username).toBe('postgres');
    for (const optional of [
      'BACKUP_AGE_RECIPIENTS',
      'BACKUP_S3_BUCKET',
      'BACKUP_S3_ENDPOINT',
      'BACKUP_S3_REGION',
      'BACKUP_S3_ACCESS_KEY_ID',
      'BACKUP_S3_SECRET_ACCESS_KEY',
      'BACKUP_S3_PREFIX',
    ]) {
      expect(passThroughNames(compose.services.backup ?? {})).toContain(optional);
    }
    expect(compose.services.backup?.volumes).toContain('backup-status:/status');
    expect(compose.services.api?.volumes).toContain('backup-status:/status:ro');
  });

  it('mounts the init script as one file, keeping the PostGIS image’s own init scripts', () => {
    const targets = (compose.services.db?.volumes ?? []).map((v) => String(v).split(':')[1]);
    expect(targets).toContain('/docker-entrypoint-initdb.d/20-estate.sh');
    expect(targets).not.toContain('/docker-entrypoint-initdb.d');
    expect(targets).toContain('/etc/postgresql/postgresql.conf');
    expect(compose.services.db?.command).toEqual([
      'postgres',
      '-c',
      'config_file=/etc/postgresql/postgresql.conf',
    ]);
    for (const source of ['postgres/postgresql.conf', 'postgres/initdb/20-estate.sh']) {
      expect(existsSync(join(root, 'origin', source))).toBe(true);
    }
  });

  describe('rejects a broken copy', () => {
    const problemsOf = (c: ComposeFile, env = envExampleText) => composeProblems(c, env);
    const cases: [string, (c: ComposeFile) => void, string][] = [
      [
        'a port published by the API',
        (c) => {
          (c.services.api as Service).ports = ['8080:8080'];
        },
        'api publishes port',
      ],
      [
        'cloudflared metrics published on every interface',
        (c) => {
          (c.services.cloudflared as Service).ports = ['2000:2000'];
        },
        'beyond the loopback interface',
      ],
      [
        'an image without a tag',
        (c) => {
          (c.services.metabase as Service).image = 'metabase/metabase';
        },
        'has no tag',
      ],
      [
        'an image on latest',
        (c) => {
          (c.services.db as Service).image = 'postgis/postgis:latest';
        },
        'is not pinned',
      ],
      [
        'a depends_on cycle',
        (c) => {
          (c.services.db as Service).depends_on = { api: { condition: 'service_started' } };
        },
        'depends_on cycle',
      ],
      [
        'waiting for health on a service without a healthcheck',
        (c) => {
          delete (c.services.api as Service).healthcheck;
        },
        'api has no healthcheck',
      ],
      [
        'an API that does not wait for the migrations',
        (c) => {
          (c.services.api as Service).depends_on = { db: { condition: 'service_healthy' } };
        },
        'api does not wait for migrate',
      ],
      [
        'a service that does not restart',
        (c) => {
          delete (c.services.metabase as Service).restart;
        },
        'metabase does not restart',
      ],
      [
        'a one-shot job that restarts',
        (c) => {
          (c.services.migrate as Service).restart = 'on-failure';
        },
        'migrate runs once but restarts',
      ],
      [
        'a service without limits',
        (c) => {
          delete (c.services.backup as Service).deploy;
        },
        'backup has no memory limit',
      ],
      [
        'a service whose logs grow forever',
        (c) => {
          (c.services.api as Service).logging = { driver: 'json-file' };
        },
        'api logs without max-size',
      ],
      [
        'a variable origin/.env.example does not explain',
        (c) => {
          (c.services.api as Service).environment = { NOPE: `\${NOT_DECLARED}` };
        },
        // api-2 is a YAML alias of api: the same object, so the last one named is either.
        'NOT_DECLARED (used by api',
      ],
      [
        'a required variable in a profile service',
        (c) => {
          (c.services.srh as Service).environment = { SRH_TOKEN: `\${SRH_TOKEN:?x}` };
        },
        'srh requires SRH_TOKEN but is in a profile',
      ],
      [
        'a core service that needs a profile service',
        (c) => {
          (c.services.api as Service).depends_on = {
            ...dependenciesOf(c.services.api as Service),
            srh: { condition: 'service_started' },
          };
        },
        'api depends on srh, which only runs with a profile',
      ],
      [
        'the database on a network with a route out',
        (c) => {
          (c.services.db as Service).networks = ['backend', 'egress'];
        },
        'db is on egress',
      ],
      [
        'the database published through host networking',
        (c) => {
          (c.services.db as Service).network_mode = 'host';
        },
        "db uses the host's network",
      ],
    ];
    for (const [what, change, expected] of cases) {
      it(`with ${what}`, () => {
        expect(problemsOf(mutated(change))).toEqual(
          expect.arrayContaining([expect.stringContaining(expected)]),
        );
      });
    }

    it('with a variable declared in origin/.env.example that nothing uses', () => {
      const env = `${envExampleText}\n# An orphan.\nORPHAN_SETTING=1\n`;
      expect(problemsOf(compose, env)).toContain(
        'ORPHAN_SETTING is in origin/.env.example but unused',
      );
    });
  });
});

describe('origin/.env.example', () => {
  it('explains every variable and marks every secret, committing no secret value', () => {
    expect(example.problems).toEqual([]);
    const secrets = [...example.declarations.values()].filter((d) => d.secret).map((d) => d.name);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'POSTGRES_PASSWORD',
        'ESTATE_APP_PASSWORD',
        'EDGE_ASSERTION_SECRET',
        'METABASE_ENCRYPTION_SECRET_KEY',
        'TUNNEL_TOKEN',
        'SRH_TOKEN',
      ]),
    );
  });

  it('rejects an unexplained variable, an unmarked secret and a committed secret value', () => {
    expect(parseEnvExample('SOME_SETTING=1\n').problems).toEqual([
      'SOME_SETTING has no comment explaining it',
    ]);
    expect(parseEnvExample('# The key.\nAPI_SECRET=\n').problems).toEqual([
      'API_SECRET is not marked # secret',
    ]);
    expect(parseEnvExample('# The key.\n# secret\nAPI_SECRET=hunter2\n').problems).toEqual([
      'API_SECRET is a secret with a committed value',
    ]);
    expect(parseEnvExample('# A schedule.\nCRON=0 2 * * *\n').problems).toEqual([
      'CRON: quote a value with spaces',
    ]);
  });

  it('interpolates like Compose: defaults, required values and literal dollars', () => {
    const refs: Reference[] = [];
    const errors: string[] = [];
    const env = { SET: 'x', EMPTY: '' };
    expect(interpolate(`\${SET:-d}/\${EMPTY:-d}/\${EMPTY-d}/\${UNSET-d}`, env, refs, errors)).toBe(
      'x/d//d',
    );
    expect(interpolate('$$HOME and $SET', env, refs, errors)).toBe('$HOME and x');
    expect(interpolate(`\${EMPTY:+y}\${SET:+y}`, env, refs, errors)).toBe('y');
    expect(errors).toEqual([]);
    interpolate(`\${EMPTY:?needed}`, env, refs, errors);
    expect(errors).toEqual(['required variable EMPTY is missing a value: needed']);
  });
});

describe('origin/Dockerfile', () => {
  it('runs its final stage as a non-root user, with a health check', () => {
    expect(dockerfileProblems(dockerfile)).toEqual([]);
  });

  it('builds on Node 24 LTS, installs production packages only and runs the compiled origin', () => {
    const all = instructions(dockerfile);
    const froms = all.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(' ')[0]);
    expect(froms.length).toBeGreaterThanOrEqual(3);
    expect(froms.every((f) => /^node:24\.\d+\.\d+-bookworm-slim$/.test(f ?? ''))).toBe(true);
    const runs = all.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    // Production packages, PGlite (an optional dependency for `npm start`) left out.
    expect(runs.some((r) => /npm ci --omit=dev --omit=optional/.test(r))).toBe(true);
    expect(runs.some((r) => /build-origin\.sh/.test(r))).toBe(true);
    const pkg = JSON.parse(read('package.json'));
    for (const devOnly of ['tsx', '@electric-sql/pglite', '@upstash/ratelimit', 'cockatiel']) {
      expect(pkg.dependencies[devOnly]).toBeUndefined();
    }
    // pg_dump for the backup service, the server's major version.
    expect(runs.some((r) => /apt-get install .*postgresql-client-15/.test(r))).toBe(true);
    const cmd = all.filter((i) => i.keyword === 'CMD').at(-1);
    expect(JSON.parse(cmd?.args ?? '[]')).toEqual(['node', 'dist/origin/index.js']);
    expect(compose.services.api?.command).toEqual(['node', 'dist/origin/index.js']);
    const health = all.filter((i) => i.keyword === 'HEALTHCHECK').at(-1)?.args ?? '';
    expect(health).toContain('/health');
    expect(health).not.toMatch(/curl|wget/);
  });

  it('rejects a final stage running as root, one without a health check, and an unpinned base', () => {
    expect(dockerfileProblems(`${dockerfile}\nUSER root\n`)).toEqual([
      'the final stage runs as root',
    ]);
    expect(dockerfileProblems(dockerfile.replace(/^USER .*$/m, ''))).toEqual([
      'the final stage sets no USER: it runs as root',
    ]);
    expect(dockerfileProblems(`${dockerfile}\nHEALTHCHECK NONE\n`)).toEqual([
      'the final stage disables HEALTHCHECK',
    ]);
    const withoutHealth = dockerfile.replace(/^HEALTHCHECK[^\n]*\\\n[^\n]*$/m, '');
    expect(dockerfileProblems(withoutHealth)).toEqual(['the final stage has no HEALTHCHECK']);
    expect(dockerfileProblems(`FROM node\n${dockerfile}`)).toEqual([
      'FROM node has no tag (it means latest)',
    ]);
  });

  /** What .dockerignore keeps out of the image on purpose. */
  const NOT_IN_IMAGE =
    /\.test\.ts$|(^|\/)\.env|^origin\/(postgres\/|secrets\/|compose\.yaml$|Dockerfile$)/;

  it('gets the files it copies through .dockerignore, and no secret or local state', () => {
    const ignored = dockerignore(read('.dockerignore'));
    for (const path of [
      'origin/.env',
      '.env',
      'origin/.env.example',
      'origin/secrets/tunnel-credentials.json',
      'node_modules/hono/package.json',
      '.git/HEAD',
      '.data/pglite/PG_VERSION',
      'edge/index.ts',
      'test/compose.test.ts',
      'origin/app.test.ts',
      'origin/compose.yaml',
    ]) {
      expect({ path, ignored: ignored(path) }).toEqual({ path, ignored: true });
    }
    // Every COPY source from the build context, and every runtime file under it.
    const sources = instructions(dockerfile)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'origin', 'migrations']),
    );
    for (const source of sources) {
      expect(existsSync(join(root, source))).toBe(true);
      const files = statSync(join(root, source)).isDirectory() ? filesUnder(source) : [source];
      const runtime = files.filter((f) => !NOT_IN_IMAGE.test(f));
      expect(runtime.filter((f) => ignored(f))).toEqual([]);
    }
    expect(ignored('origin/etl/samples/kc_house_data.csv')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// The db service's init, on a private PostgreSQL 15 cluster started with the tuned config

const passwords = {
  ESTATE_OWNER_PASSWORD: randomBytes(32).toString('hex'),
  ESTATE_APP_PASSWORD: randomBytes(32).toString('hex'),
  // Whatever an operator types must survive: quotes, a backslash, spaces, a dollar, SQL.
  METABASE_DB_PASSWORD: `it's a "pass\\word" $HOME`,
  ANALYTICS_DB_PASSWORD: `x'); DROP ROLE estate_app; --`,
};

describe('the db service’s init script and postgresql.conf, on a real PostgreSQL 15 with PostGIS', () => {
  let cluster: Cluster;
  const connect = (user: string, password: string, database: string) =>
    postgres({
      host: '127.0.0.1',
      port: cluster.port,
      user,
      password,
      database,
      max: 1,
      onnotice: () => {},
    });
  const ownerUrl = () =>
    `postgres://estate_owner:${passwords.ESTATE_OWNER_PASSWORD}@127.0.0.1:${cluster.port}/estate`;
  const appUrl = () =>
    `postgres://estate_app:${passwords.ESTATE_APP_PASSWORD}@127.0.0.1:${cluster.port}/estate`;

  beforeAll(async () => {
    cluster = await startCluster();
    const init = await runInitScript(cluster, passwords);
    if (init.code !== 0) throw new Error(`20-estate.sh failed: ${init.stderr}`);
    const db = await openDatabase({ url: ownerUrl(), dataDir: '' });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
  });

  afterAll(() => {
    cluster?.stop();
  });

  it('starts with the tuned configuration, statistics preloaded', async () => {
    // The superuser, over the cluster's socket (local trust): only it may read every setting.
    const sql = postgres({ host: cluster.dir, port: cluster.port, user: 'postgres', max: 1 });
    try {
      const [cost] = await sql`SHOW random_page_cost`;
      const [preload] = await sql`SHOW shared_preload_libraries`;
      const [encryption] = await sql`SHOW password_encryption`;
      expect([cost?.random_page_cost, preload?.shared_preload_libraries]).toEqual([
        '1.1',
        'pg_stat_statements',
      ]);
      expect(encryption?.password_encryption).toBe('scram-sha-256');
    } finally {
      await sql.end();
    }
  });

  it('creates the app database owned by estate_owner, with PostGIS, migrated as the owner', async () => {
    const sql = connect('estate_owner', passwords.ESTATE_OWNER_PASSWORD, 'estate');
    try {
      const [db] = await sql`
        SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'estate'`;
      expect(db?.owner).toBe('estate_owner');
      const [postgis] = await sql`SELECT postgis_version() AS v`;
      expect(postgis?.v).toMatch(/^3\./);
      const roles = await sql`
        SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles
        WHERE rolname IN ('estate_owner', 'estate_app', 'estate_analytics', 'metabase')
        ORDER BY rolname`;
      expect(
        roles.map((r) => [r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole]),
      ).toEqual([
        ['estate_analytics', true, false, false, false],
        ['estate_app', true, false, false, false],
        ['estate_owner', true, false, false, false],
        ['metabase', true, false, false, false],
      ]);
    } finally {
      await sql.end();
    }
  });

  it('lets estate_app write rows and see the migration count, but not change the schema or the audit log', async () => {
    const sql = connect('estate_app', passwords.ESTATE_APP_PASSWORD, 'estate');
    try {
      await sql`SELECT count(*) FROM listings`;
      await sql.begin(async (tx) => {
        await tx`CREATE TEMPORARY TABLE staging_probe (id int) ON COMMIT DROP`;
      });
      await expect(sql`CREATE TABLE intruder (id int)`).rejects.toThrow(/permission denied/);
      await expect(sql`UPDATE audit_log SET id = id`).rejects.toThrow(/permission denied/);
    } finally {
      await sql.end();
    }
    // Readiness counts applied migrations as the app's role.
    const db = await openDatabase({ url: appUrl(), dataDir: '', poolMax: 1 });
    try {
      expect((await migrationStatus(db)).current).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('gives estate_analytics read-only sessions on the app database and no table of its own', async () => {
    const sql = connect('estate_analytics', passwords.ANALYTICS_DB_PASSWORD, 'estate');
    try {
      const [ro] = await sql`SHOW default_transaction_read_only`;
      expect(ro?.default_transaction_read_only).toBe('on');
      const [analytics] = await sql`
        SELECT has_schema_privilege('analytics', 'USAGE') AS usage,
               has_schema_privilege('public', 'CREATE') AS create_public`;
      expect(analytics).toEqual({ usage: true, create_public: false });
      await expect(sql`SELECT count(*) FROM listings`).rejects.toThrow(/permission denied/);
      await expect(sql`CREATE TEMPORARY TABLE t (id int)`).rejects.toThrow();
    } finally {
      await sql.end();
    }
    const other = connect('estate_analytics', passwords.ANALYTICS_DB_PASSWORD, 'metabase');
    await expect(other`SELECT 1`).rejects.toThrow(/permission denied for database/);
    await other.end();
  });

  it('gives Metabase a database of its own, and no way into the app database', async () => {
    const sql = connect('metabase', passwords.METABASE_DB_PASSWORD, 'metabase');
    try {
      await sql`CREATE TABLE metabase_probe (id int)`;
      await sql`DROP TABLE metabase_probe`;
    } finally {
      await sql.end();
    }
    const app = connect('metabase', passwords.METABASE_DB_PASSWORD, 'estate');
    await expect(app`SELECT 1`).rejects.toThrow(/permission denied for database/);
    await app.end();
  });

  it('rotates a password when run again on a running database', async () => {
    const rotated = { ...passwords, ANALYTICS_DB_PASSWORD: randomBytes(16).toString('hex') };
    const again = await runInitScript(cluster, rotated);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const fresh = connect('estate_analytics', rotated.ANALYTICS_DB_PASSWORD, 'estate');
    await fresh`SELECT 1`;
    await fresh.end();
    const stale = connect('estate_analytics', passwords.ANALYTICS_DB_PASSWORD, 'estate');
    await expect(stale`SELECT 1`).rejects.toThrow(/password authentication failed/);
    await stale.end();
    await runInitScript(cluster, passwords);
  });

  it('refuses to run with an empty password, naming the variable', async () => {
    const result = await runInitScript(cluster, { ...passwords, ANALYTICS_DB_PASSWORD: '' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('ANALYTICS_DB_PASSWORD is empty');
  });

  it('fails on any error in scripts/db-roles.sql other than the audit log not existing yet', async () => {
    const broken = join(cluster.dir, 'db-roles-broken.sql');
    writeFileSync(
      broken,
      `${read('scripts/db-roles.sql')}\nGRANT SELECT ON nowhere TO estate_app;\n`,
    );
    const result = await runInitScript(cluster, passwords, { ESTATE_DB_ROLES_SQL: broken });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('relation "nowhere" does not exist');
  });
});
