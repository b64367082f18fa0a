import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { declare, feedSource } from '../../../test/support/etl.js';
import { adminUrl } from '../../../test/support/urls.js';
import { createApp } from '../../app.js';
import { openDatabase } from '../../db/database.js';
import { createLogger } from '../../logger.js';
import type { Readiness } from './assess.js';

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
let dir: string;
const logger = createLogger('silent');

async function ready(
  target = app,
): Promise<{ status: number; body: Readiness; res: Response; ms: number }> {
  const started = performance.now();
  const res = await target.request('/health/ready');
  const body = (await res.json()) as Readiness;
  return { status: res.status, body, res, ms: performance.now() - started };
}

/** Record a finished successful run of a source, `hoursAgo` hours ago. */
async function succeededAgo(source: string, hoursAgo: number): Promise<void> {
  await t.db.rows(sql`
    INSERT INTO etl_runs (source_id, status, trigger, location, started_at, finished_at)
    SELECT id, 'succeeded', 'test', location,
           now() - make_interval(secs => ${hoursAgo * 3600 + 60}),
           now() - make_interval(secs => ${hoursAgo * 3600})
    FROM etl_sources WHERE name = ${source}`);
}

beforeAll(async () => {
  t = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'estate-edge-health-'));
  // An unscheduled source (like the shipped sample) and a daily one.
  await declare(t.db, feedSource('by-hand', '/x.csv'));
  await declare(t.db, { ...feedSource('daily', '/y.csv'), schedule: '0 3 * * *' });
  await succeededAgo('by-hand', 200);
  await succeededAgo('daily', 2);
  // The backup job's report file, as the operator configures it (BACKUP_STATUS_FILE).
  app = createApp({ db: t.db, logger, ops: { dataDir: dir, backupStatusFile: backupFile() } });
});

function backupFile(): string {
  return join(dir, 'backup-status.json');
}

afterEach(() => {
  vi.unstubAllEnvs();
});

afterAll(async () => {
  await t?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GET /health', () => {
  it('answers ok without touching a dependency, never cached', async () => {
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });
});

describe('GET /health/ready', () => {
  it('reports every check and is ok on a current database with fresh ETL', async () => {
    vi.stubEnv('DATA_DIR', dir);
    // The daemon has started and its first backup is not due yet.
    writeFileSync(backupFile(), JSON.stringify({ daemon_started_at: new Date().toISOString() }));
    const { status, body, res } = await ready();
    // The disk is this machine's: judge it the same way, independently.
    const fs = await statfs(dir);
    const diskOk = fs.bavail / fs.blocks >= 0.1;
    expect(status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(body.status).toBe(diskOk ? 'ok' : 'degraded');
    expect(body.checks.database).toMatchObject({ status: 'up', driver: 'postgres' });
    expect(body.checks.database.latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.checks.migrations.status).toBe('ok');
    expect(body.checks.migrations.applied).toBe(body.checks.migrations.available);
    expect(body.checks.backup.status).toBe('unknown');
    expect(body.checks.disk.status).toBe(diskOk ? 'ok' : 'low');
    // Other processes write meanwhile: the same figure within 1% of the disk.
    expect(Math.abs((body.checks.disk.free_bytes ?? 0) - fs.bavail * fs.bsize)).toBeLessThan(
      fs.blocks * fs.bsize * 0.01,
    );
    expect(body.problems.length).toBe(diskOk ? 0 : 1);
  });

  it('reports the last success of each source with its age, judging only scheduled ones', async () => {
    const { body } = await ready();
    const sources = body.checks.etl.sources ?? [];
    const byName = Object.fromEntries(sources.map((s) => [s.name, s]));
    expect(Object.keys(byName).sort()).toEqual(['by-hand', 'daily']);
    // 200 h old, but nobody promised to run it: reported, not stale.
    expect(byName['by-hand']).toMatchObject({ scheduled: false, stale: false });
    expect(byName['by-hand']?.age_seconds).toBeGreaterThanOrEqual(200 * 3600 - 5);
    expect(byName['by-hand']?.age_seconds).toBeLessThan(200 * 3600 + 60);
    expect(byName.daily).toMatchObject({ scheduled: true, stale: false });
    expect(Date.parse(byName.daily?.last_success_at as string)).toBeGreaterThan(
      Date.now() - 2 * 3600_000 - 60_000,
    );
    expect(body.checks.etl.status).toBe('ok');
  });

  it('is degraded, still 200, when a scheduled source has not succeeded for over 26 hours', async () => {
    await declare(t.db, { ...feedSource('late-feed', '/z.csv'), schedule: '0 * * * *' });
    await succeededAgo('late-feed', 30);
    try {
      const { status, body } = await ready();
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
      expect(body.checks.etl.status).toBe('stale');
      expect(body.checks.etl.sources?.find((s) => s.name === 'late-feed')).toMatchObject({
        stale: true,
      });
      expect(body.problems.join(' ')).toContain("'late-feed'");
    } finally {
      await t.db.rows(sql`DELETE FROM etl_sources WHERE name = 'late-feed'`);
    }
  });

  it('is degraded when a migration is pending', async () => {
    const [last] = await t.db.rows<{ id: number; hash: string; created_at: string }>(
      sql`SELECT id, hash, created_at FROM drizzle.__drizzle_migrations ORDER BY id DESC LIMIT 1`,
    );
    await t.db.rows(sql`DELETE FROM drizzle.__drizzle_migrations WHERE id = ${last?.id}`);
    try {
      const { status, body } = await ready();
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
      expect(body.checks.migrations.status).toBe('pending');
      expect(body.checks.migrations.applied).toBe((body.checks.migrations.available ?? 0) - 1);
      expect(body.problems.join(' ')).toContain('migration');
    } finally {
      await t.db.rows(
        sql`INSERT INTO drizzle.__drizzle_migrations (id, hash, created_at) VALUES (${last?.id}, ${last?.hash}, ${last?.created_at})`,
      );
    }
  });

  describe('the backup the backup job reported in BACKUP_STATUS_FILE', () => {
    function reportBackup(content: unknown): void {
      writeFileSync(backupFile(), typeof content === 'string' ? content : JSON.stringify(content));
    }
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();

    it('is unknown, and not a problem, when the daemon started and its first backup is not due', async () => {
      const next = new Date(Date.now() + 3600_000).toISOString();
      reportBackup({ daemon_started_at: hoursAgo(1), next_run_at: next });
      const { body } = await ready();
      expect(body.checks.backup).toMatchObject({ status: 'unknown', next_run_at: next });
      expect(body.checks.backup.critical).toBeUndefined();
      expect(body.problems.join(' ')).not.toContain('backup');
    });

    it('is missing, and critical, when no backup job ever wrote the file', async () => {
      rmSync(backupFile(), { force: true });
      const { status, body } = await ready();
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
      expect(body.checks.backup).toMatchObject({ status: 'missing', critical: true });
      expect(body.problems.join(' ')).toMatch(/no backup job has reported/);
    });

    it('is stale, and critical, when the daemon started over 26 h ago and none ran', async () => {
      reportBackup({ daemon_started_at: hoursAgo(27) });
      const { body } = await ready();
      expect(body.checks.backup).toMatchObject({ status: 'stale', critical: true });
      expect(body.problems.join(' ')).toMatch(/no backup since the backup service started 27/);
    });

    it('is failed, and critical, when the daemon could not run its configuration', async () => {
      reportBackup({
        finished_at: hoursAgo(0),
        ok: false,
        error: 'the backup service cannot run its configuration: BACKUP_ENCRYPTION=gpg but …',
        daemon_started_at: null,
      });
      const { body } = await ready();
      expect(body.checks.backup).toMatchObject({ status: 'failed', critical: true });
      expect(body.problems.join(' ')).toMatch(/cannot run its configuration/);
    });

    it('is ok with its age and size when recent', async () => {
      reportBackup({ finished_at: hoursAgo(3), ok: true, size_bytes: 123_456 });
      const { body } = await ready();
      expect(body.checks.backup).toMatchObject({ status: 'ok', size_bytes: 123_456 });
      expect(body.checks.backup.age_seconds).toBeGreaterThanOrEqual(3 * 3600 - 5);
      expect(body.checks.backup.age_seconds).toBeLessThan(3 * 3600 + 60);
    });

    it.each([
      ['older than 26 hours', { finished_at: hoursAgo(27), ok: true, size_bytes: 1 }, 'stale'],
      ['failed', { finished_at: hoursAgo(1), ok: false }, 'failed'],
      ['not JSON', '{ finished_at: yesterday', 'invalid'],
      ['missing its date', { ok: true }, 'invalid'],
    ])('makes readiness degraded when the last backup is %s', async (_case, content, expected) => {
      reportBackup(content);
      const { status, body } = await ready();
      expect(status).toBe(200);
      expect(body.status).toBe('degraded');
      expect(body.checks.backup.status).toBe(expected);
      expect(body.problems.join(' ')).toContain('backup');
    });
  });

  describe('with the database down', () => {
    it('answers 503 at once when the database refuses connections', async () => {
      // Port 1 on loopback: nothing listens, the connection is refused immediately.
      const db = await openDatabase({
        url: 'postgres://nobody@127.0.0.1:1/none',
        dataDir: '',
        poolMax: 1,
      });
      try {
        const { status, body, res, ms } = await ready(createApp({ db, logger }));
        expect(status).toBe(503);
        expect(res.headers.get('Cache-Control')).toBe('no-store');
        expect(body.status).toBe('down');
        expect(body.checks.database.status).toBe('down');
        expect(body.checks.database.error).toBeTruthy();
        expect(body.checks.migrations.status).toBe('unknown');
        expect(ms).toBeLessThan(2_500);
      } finally {
        await db.close();
      }
    });

    it('answers 503 within its 2 s budget when the database hangs', async () => {
      // Accepts the connection and never says a word: what a wedged server or a black-holed
      // network looks like from here.
      const sockets: import('node:net').Socket[] = [];
      let closing = false;
      const silent: Server = createServer((socket) => {
        if (closing) socket.destroy();
        else sockets.push(socket);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as import('node:net').AddressInfo).port;
      const db = await openDatabase({
        url: `postgres://nobody@127.0.0.1:${port}/none`,
        dataDir: '',
        poolMax: 1,
      });
      try {
        const { status, body, ms } = await ready(createApp({ db, logger }));
        expect(status).toBe(503);
        expect(body.checks.database.error).toContain('2000 ms');
        expect(ms).toBeGreaterThanOrEqual(1_900);
        expect(ms).toBeLessThan(4_000);
      } finally {
        // Cut the hung connection so the pool gives up its query, then refuse any reconnect.
        closing = true;
        const closed = new Promise((resolve) => silent.close(resolve));
        for (const socket of sockets) socket.destroy();
        await db.close().catch(() => {});
        await closed;
      }
    });

    it('answers 503 when its database was dropped under it', async () => {
      const doomed = await createTestDatabase();
      const doomedApp = createApp({ db: doomed.db, logger });
      expect((await ready(doomedApp)).status).toBe(200);
      const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`DROP DATABASE ${doomed.name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
      const { status, body } = await ready(doomedApp);
      expect(status).toBe(503);
      expect(body.status).toBe('down');
      await doomed.db.close().catch(() => {});
    });
  });
});
