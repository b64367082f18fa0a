import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../origin/etl/fetch-input.js';
import { runSource } from '../origin/etl/run.js';
import { upsertSource } from '../origin/etl/sources.js';
import { syntheticSource, writeSyntheticCsv } from '../scripts/lib/synthetic.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { fixture, listingsChecksum } from './support/etl.js';

/**
 * A run is all-or-nothing: SIGKILL the ETL process in the middle of a load, and the listings are
 * exactly as before; the next run succeeds, and the dead run is marked abandoned.
 */
let t: TestDatabase;
let feed: string;

beforeAll(async () => {
  t = await createTestDatabase();
  feed = fixture('', 'csv');
  await writeSyntheticCsv(feed, 150_000);
  await upsertSource(t.db, syntheticSource(feed));
  // Something already stored, so "exactly as before" is not trivially an empty table.
  const small = fixture('', 'csv');
  await writeSyntheticCsv(small, 1_000);
  expect((await runSource(t.db, 'synthetic', { location: small })).rowsInserted).toBe(1_000);
});
afterAll(async () => {
  await t.drop();
});

describe('an ETL run killed midway', () => {
  // Two full loads of 150k rows and a child process: minutes on a loaded two-core machine.
  it('leaves the listings exactly as they were, and the next run succeeds', {
    timeout: 240_000,
  }, async () => {
    const before = await listingsChecksum(t.db);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'origin/etl/cli.ts'), 'synthetic'],
      {
        env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    // Kill it once it reports progress: the COPY into staging is then under way.
    const killedAt = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /read ([\d,]+) rows/.exec(stderr);
        if (match) {
          child.kill('SIGKILL');
          resolve(match[1] as string);
        }
      });
      child.on('exit', () =>
        reject(new Error(`the ETL exited before it could be killed: ${stderr}`)),
      );
    });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(Number(killedAt.replaceAll(',', ''))).toBeGreaterThan(0);

    const [dead] = await t.db.rows<{ status: string }>(
      sql`SELECT status FROM etl_runs ORDER BY id DESC LIMIT 1`,
    );
    expect(dead?.status).toBe('running');
    expect(await listingsChecksum(t.db)).toEqual(before);

    // The dead process's lock went with its connection: a new run is allowed and succeeds.
    const next = await runSource(t.db, 'synthetic');
    expect(next).toMatchObject({
      status: 'succeeded',
      rowsRead: 150_000,
      rowsInserted: 149_000,
      rowsUnchanged: 1_000,
    });
    const runs = await t.db.rows<{ status: string; error: string | null }>(
      sql`SELECT status, error FROM etl_runs ORDER BY id`,
    );
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'abandoned', 'succeeded']);
    expect(runs[1]?.error).toMatch(/stopped before it finished/);
  });
});
