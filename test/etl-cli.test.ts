import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../origin/etl/fetch-input.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { declare, feedSource, fixture, HEADER } from './support/etl.js';

/** The data engineer's command, run the way they run it, against a real database. */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await declare(
    t.db,
    feedSource(
      'cli-feed',
      fixture(`${HEADER}\nC1,A,1,2,a,2024-01-01,47.5,-122.5\nC2,A,-1,2,a,2024-01-01,47.5,-122.5\n`),
    ),
  );
});
afterAll(async () => {
  await t.drop();
});

function etl(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(projectRoot, 'origin/etl/cli.ts'), ...args],
    {
      env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe('npm run etl', () => {
  it('runs a source, prints a summary that points at the rejects, and exits 0', () => {
    const { code, out } = etl('cli-feed');
    expect(code).toBe(0);
    expect(out).toMatch(/run #\d+ of cli-feed: succeeded/);
    expect(out).toMatch(/inserted\s+1\n/);
    expect(out).toMatch(/rejected\s+1 \(see etl_rejects where run_id = \d+\)/);
  });

  it('exits 1 with the reason when the run fails', () => {
    const { code, out } = etl('cli-feed', '--file', '/nonexistent.csv');
    expect(code).toBe(1);
    expect(out).toMatch(/failed/);
    expect(out).toMatch(/no such file: \/nonexistent\.csv/);
  });

  it('exits 2 for an unknown source or a usage error', () => {
    expect(etl('no-such-source')).toMatchObject({
      code: 2,
      err: expect.stringMatching(/no source named 'no-such-source'/),
    });
    expect(etl()).toMatchObject({ code: 2, err: expect.stringMatching(/^usage: npm run etl/) });
  });

  it('lists the sources with their last run', () => {
    const { code, out } = etl('--list');
    expect(code).toBe(0);
    expect(out).toMatch(/cli-feed/);
    expect(out).toMatch(/king-county/);
  });
});
