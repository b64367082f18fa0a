import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Cluster, freePort, runInitScript, startCluster } from './support/compose-cluster.js';
import { operatorEnv, parseEnvExample, read, readCompose } from './support/compose-file.js';
import {
  type Container,
  containerOf,
  type Running,
  runToEnd,
  type Stage,
  start,
  waitHealthy,
} from './support/compose-services.js';
import { FakeMetabase } from './support/fake-metabase.js';

/**
 * The compose stack rehearsed without Docker: every service built from our image (migrate, api,
 * backup, metabase-setup) runs its command natively with exactly the environment compose would
 * give it from origin/.env.example's defaults (the secrets generated), secrets and volumes mapped
 * (test/support/compose-services.ts), against a PostgreSQL configured and initialised as the db
 * service is (test/support/compose-cluster.ts), then its healthcheck runs. A default that makes a
 * service exit or its healthcheck fail fails here. Metabase itself cannot run here: a stand-in
 * records what the setup job asks of it.
 */

const compose = readCompose();
const dotenv = operatorEnv(parseEnvExample(read('origin/.env.example')));
/** What a service that stays up must still be after starting (Docker would be restarting it). */
const SETTLE_MS = 3_000;

let cluster: Cluster;
let stage: Stage;
let metabase: FakeMetabase;
const running: Running[] = [];
const superuser = () =>
  postgres({ host: cluster.dir, port: cluster.port, user: 'postgres', max: 1, onnotice: () => {} });

beforeAll(async () => {
  cluster = await startCluster('estate-rehearsal-');
  const init = await runInitScript(cluster, {
    ESTATE_OWNER_PASSWORD: dotenv.ESTATE_OWNER_PASSWORD ?? '',
    ESTATE_APP_PASSWORD: dotenv.ESTATE_APP_PASSWORD ?? '',
    METABASE_DB_PASSWORD: dotenv.METABASE_DB_PASSWORD ?? '',
    ANALYTICS_DB_PASSWORD: dotenv.ANALYTICS_DB_PASSWORD ?? '',
  });
  if (init.code !== 0) throw new Error(`20-estate.sh failed: ${init.stderr}`);
  // The image's entrypoint sets the superuser's password from POSTGRES_PASSWORD_FILE.
  const su = superuser();
  await su.unsafe(`ALTER ROLE postgres PASSWORD '${dotenv.POSTGRES_PASSWORD}'`);
  await su.end();
  metabase = new FakeMetabase();
  await metabase.start();
  stage = {
    dir: mkdtempSync(join(tmpdir(), 'estate-stage-')),
    dotenv,
    hosts: {
      'db:5432': `127.0.0.1:${cluster.port}`,
      'metabase:3000': metabase.url.replace('http://', ''),
    },
    ports: { '8080': String(await freePort()), '9464': String(await freePort()) },
  };
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await metabase?.stop();
  cluster?.stop();
  if (stage) rmSync(stage.dir, { recursive: true, force: true });
});

/** Start a long-running service and check it is still up once it had time to fail. */
async function startAndSettle(container: Container): Promise<Running> {
  const service = start(container);
  running.push(service);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return service;
}

/** GET /health/ready on the running api, from the private network (so with its details). */
async function readiness(api: Container) {
  const response = await fetch(`http://127.0.0.1:${api.env.PORT}/health/ready`);
  return (await response.json()) as {
    status: string;
    problems: string[];
    checks: { backup: { status: string; critical?: boolean; reason?: string; error?: string } };
  };
}

/** `docker compose run --rm <service> <command…>`: the service's environment, another command. */
const composeRun = (container: Container, ...args: string[]) =>
  runToEnd(container, [process.execPath, '--import', 'tsx', ...args]);

/** A stage of its own (own volumes and secrets), with origin/.env changed by `changes`. */
function variant(changes: Record<string, string>): Stage {
  return {
    ...stage,
    dir: mkdtempSync(join(stage.dir, 'variant-')),
    dotenv: { ...dotenv, ...changes },
  };
}

/**
 * Who owns what and who may do what in the app database, in a form to compare before and after
 * a restore: the database's owner and privileges, every schema's, relation's and function's owner
 * and ACL outside the extensions, and the default privileges.
 */
async function privileges(): Promise<unknown> {
  const sql = postgres({
    host: cluster.dir,
    port: cluster.port,
    user: 'postgres',
    database: 'estate',
    max: 1,
    onnotice: () => {},
  });
  const acl = (column: string) =>
    `(SELECT array_agg(x ORDER BY x) FROM unnest(${column}::text[]) x)`;
  try {
    return {
      database: await sql.unsafe(
        `SELECT pg_get_userbyid(datdba) AS owner, ${acl('datacl')} AS acl FROM pg_database WHERE datname = 'estate'`,
      ),
      schemas: await sql.unsafe(
        `SELECT nspname, pg_get_userbyid(nspowner) AS owner, ${acl('nspacl')} AS acl FROM pg_namespace
         WHERE nspname IN ('public', 'analytics', 'drizzle') ORDER BY 1`,
      ),
      relations: await sql.unsafe(
        `SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner, ${acl('c.relacl')} AS acl
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('public', 'analytics', 'drizzle') AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
         ORDER BY 1, 2`,
      ),
      functions: await sql.unsafe(
        `SELECT p.oid::regprocedure::text AS name, pg_get_userbyid(p.proowner) AS owner, ${acl('p.proacl')} AS acl
         FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
         ORDER BY 1`,
      ),
      defaults: await sql.unsafe(
        `SELECT pg_get_userbyid(defaclrole) AS role, defaclnamespace::regnamespace::text AS schema,
                defaclobjtype AS type, ${acl('defaclacl')} AS acl
         FROM pg_default_acl ORDER BY 1, 2, 3`,
      ),
    };
  } finally {
    await sql.end();
  }
}

const upOrWhy = (service: Running) => ({
  up: service.exitCode() === undefined,
  exitCode: service.exitCode() ?? null,
  output: service.exitCode() === undefined ? '' : service.output().slice(-2000),
});

describe('the compose stack with origin/.env.example’s defaults, rehearsed natively', () => {
  it('migrate runs to completion', async () => {
    const result = await runToEnd(containerOf(compose, 'migrate', stage));
    expect(result, result.output).toMatchObject({ code: 0 });
  });

  it('api stays up and its healthcheck passes', async () => {
    const api = containerOf(compose, 'api', stage);
    const service = await startAndSettle(api);
    expect(upOrWhy(service)).toEqual({ up: true, exitCode: null, output: '' });
    const health = await waitHealthy(api);
    expect(health, health.output).toMatchObject({ code: 0 });
  });

  it('backup stays up, says so in its status file, and its healthcheck passes', async () => {
    const backup = containerOf(compose, 'backup', stage);
    const service = await startAndSettle(backup);
    expect(upOrWhy(service)).toEqual({ up: true, exitCode: null, output: '' });
    const status = JSON.parse(readFileSync(backup.env.BACKUP_STATUS_FILE ?? '', 'utf8'));
    expect(status.daemon_started_at).toEqual(expect.any(String));
    expect(backup.healthcheck).not.toBeNull();
    const health = await waitHealthy(backup);
    expect(health, health.output).toMatchObject({ code: 0 });
    // The api reads the same volume: the first backup is due, which is no problem yet.
    const ready = await readiness(containerOf(compose, 'api', stage));
    expect(ready.checks.backup, JSON.stringify(ready.checks.backup)).toMatchObject({
      status: 'unknown',
    });
    expect(ready.checks.backup.critical).toBeUndefined();
    expect(ready.checks.backup.reason).toMatch(/first backup is due at/);
  });

  it('backs up with `compose run backup … run`, and readiness then reports the backup ok', async () => {
    const backup = containerOf(compose, 'backup', stage);
    const result = await composeRun(backup, 'scripts/backup.ts', 'run');
    expect(result, result.output).toMatchObject({ code: 0 });
    const ready = await readiness(containerOf(compose, 'api', stage));
    expect(ready.checks.backup).toMatchObject({ status: 'ok' });
    expect(ready.problems.filter((p) => /backup/.test(p))).toEqual([]);
  });

  it('restores in place, keeping the database’s owner and every role’s grants', async () => {
    const before = await privileges();
    const backup = containerOf(compose, 'backup', stage);
    const result = await composeRun(backup, 'scripts/restore.ts', '--target', 'estate', '--force');
    expect(result, result.output).toMatchObject({ code: 0 });
    expect(await privileges()).toEqual(before);
    // The roles as the services use them: the analysts read `analytics` and nothing of public.
    const as = (user: string, password: string, database = 'estate') =>
      postgres({ host: '127.0.0.1', port: cluster.port, user, password, database, max: 1 });
    const analyst = as('estate_analytics', dotenv.ANALYTICS_DB_PASSWORD ?? '');
    await expect(analyst`SELECT count(*) FROM listings`).rejects.toThrow(/permission denied/);
    await analyst`SELECT count(*) FROM analytics.market_monthly`;
    await analyst.end();
    const mb = as('metabase', dotenv.METABASE_DB_PASSWORD ?? '');
    await expect(mb`SELECT 1`).rejects.toThrow(/permission denied for database/);
    await mb.end();
    const api = containerOf(compose, 'api', stage);
    const health = await waitHealthy(api);
    expect(health, health.output).toMatchObject({ code: 0 });
  });

  it('metabase-setup runs once to completion, provisioning the analysts’ connection to db', async () => {
    const setup = containerOf(compose, 'metabase-setup', stage);
    expect(compose.services['metabase-setup']?.restart).toBe('no');
    const result = await runToEnd(setup);
    expect(result, result.output).toMatchObject({ code: 0 });
    const connection = metabase.databases[0]?.details as Record<string, unknown>;
    expect(connection).toMatchObject({ host: 'db', port: 5432, dbname: 'estate' });
    expect(connection.user).toBe('estate_analytics');
  });
});

describe('a backup configuration that cannot work, with the compose stack', () => {
  it('gpg without a passphrase file: the daemon writes `failed` with the reason, exits 2, and is unhealthy', async () => {
    const backup = containerOf(compose, 'backup', variant({ BACKUP_ENCRYPTION: 'gpg' }));
    const result = await runToEnd(backup);
    expect(result.code).toBe(2);
    const status = JSON.parse(readFileSync(backup.env.BACKUP_STATUS_FILE ?? '', 'utf8'));
    expect(status).toMatchObject({ ok: false });
    expect(status.error).toMatch(/cannot run its configuration: BACKUP_ENCRYPTION=gpg/);
    const health = await runToEnd(backup, backup.healthcheck ?? []);
    expect(health.code).toBe(1);
    expect(health.output).toMatch(/backup failed/);
  });
});

describe('age, with the identity as the compose secret', () => {
  let identityFile: string;
  let recipient: string;
  beforeAll(() => {
    identityFile = join(stage.dir, 'age-identity.txt');
    execFileSync('age-keygen', ['-o', identityFile], { stdio: 'ignore' });
    recipient = execFileSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).trim();
  });

  it('backs up encrypted, and the drill decrypts with the identity', async () => {
    const backup = containerOf(
      compose,
      'backup',
      variant({
        BACKUP_ENCRYPTION: 'age',
        BACKUP_AGE_RECIPIENTS: recipient,
        BACKUP_AGE_IDENTITY_FILE: identityFile,
      }),
    );
    const daemon = await startAndSettle(backup);
    expect(upOrWhy(daemon)).toEqual({ up: true, exitCode: null, output: '' });
    await daemon.stop();
    const run = await composeRun(backup, 'scripts/backup.ts', 'run');
    expect(run, run.output).toMatchObject({ code: 0 });
    const status = JSON.parse(readFileSync(backup.env.BACKUP_STATUS_FILE ?? '', 'utf8'));
    expect(status.file).toMatch(/\.age$/);
    const drill = await composeRun(backup, 'scripts/verify-backup.ts');
    expect(drill, drill.output).toMatchObject({ code: 0 });
    // A restore on another host names the identity on the command line.
    const elsewhere = { ...backup, env: { ...backup.env, BACKUP_AGE_IDENTITY_FILE: '' } };
    const refused = await composeRun(elsewhere, 'scripts/verify-backup.ts');
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/set BACKUP_AGE_IDENTITY_FILE/);
    const named = await composeRun(
      elsewhere,
      'scripts/verify-backup.ts',
      '--identity',
      identityFile,
    );
    expect(named, named.output).toMatchObject({ code: 0 });
  });

  it('without the identity: refused while the drill is on, runs with BACKUP_VERIFY_SCHEDULE=off', async () => {
    const withoutIdentity = { BACKUP_ENCRYPTION: 'age', BACKUP_AGE_RECIPIENTS: recipient };
    const refused = await runToEnd(containerOf(compose, 'backup', variant(withoutIdentity)));
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/BACKUP_VERIFY_SCHEDULE=off/);
    const off = containerOf(
      compose,
      'backup',
      variant({ ...withoutIdentity, BACKUP_VERIFY_SCHEDULE: 'off' }),
    );
    const daemon = await startAndSettle(off);
    expect(upOrWhy(daemon)).toEqual({ up: true, exitCode: null, output: '' });
    await daemon.stop();
  });
});

describe('the monitoring profile: Prometheus scraping the api as prometheus.yml says', () => {
  const token = 'metrics-token-for-the-rehearsal-0123456789abcdef';
  const scrape = parse(read('origin/monitoring/prometheus.yml')) as {
    scrape_configs: {
      job_name: string;
      authorization?: { type: string; credentials_file: string };
      dns_sd_configs?: { port: number }[];
    }[];
  };
  const job = scrape.scrape_configs.find((j) => j.job_name === 'origin-api');

  it('reads the token from the compose secret the prometheus service mounts', () => {
    const prometheus = containerOf(compose, 'prometheus', variant({ METRICS_TOKEN: token }));
    const file = job?.authorization?.credentials_file ?? '';
    expect(job?.authorization?.type).toBe('Bearer');
    expect(readFileSync(prometheus.mounts[file] ?? '/nonexistent', 'utf8')).toBe(token);
  });

  it('gets the metrics with the token on METRICS_PORT, a problem+json 401 without it, nothing on the API port', async () => {
    const own = {
      ...variant({ METRICS_PORT: String(job?.dns_sd_configs?.[0]?.port), METRICS_TOKEN: token }),
      // Its own ports: the api of the first describe is still listening on the stage's.
      ports: { '8080': String(await freePort()), '9464': String(await freePort()) },
    };
    const api = containerOf(compose, 'api', own);
    const service = await startAndSettle(api);
    expect(upOrWhy(service)).toEqual({ up: true, exitCode: null, output: '' });
    const metricsUrl = `http://127.0.0.1:${api.env.METRICS_PORT}/metrics`;

    const scraped = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^process_cpu_user_seconds_total /m);
    const refused = await fetch(metricsUrl, { headers: { authorization: 'Bearer wrong' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const anonymous = await fetch(metricsUrl);
    expect(anonymous.status).toBe(401);
    const other = await fetch(`http://127.0.0.1:${api.env.METRICS_PORT}/v1/listings`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(other.status).toBe(404);
    // The API port still answers /metrics only to the edge's ops:read callers.
    expect((await fetch(`http://127.0.0.1:${api.env.PORT}/metrics`)).status).toBe(401);
    await service.stop();
  });

  it('refuses to start with METRICS_PORT and no METRICS_TOKEN, naming it', async () => {
    const result = await runToEnd(
      containerOf(compose, 'api', variant({ METRICS_PORT: '9464', METRICS_TOKEN: '' })),
    );
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/METRICS_TOKEN: required with METRICS_PORT/);
  });
});
