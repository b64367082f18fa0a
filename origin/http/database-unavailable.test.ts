import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import { type Database, openDatabase } from '../db/database.js';
import { createLogger } from '../logger.js';

// A real PostgreSQL client pointed where no server listens: what the origin sees while its
// database restarts.
let db: Database;
beforeAll(async () => {
  db = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', dataDir: '', poolMax: 1 });
});
afterAll(async () => {
  await db.close();
});

describe('a database that cannot be reached', () => {
  it('makes a data route answer 503 problem+json with Retry-After, not 500', async () => {
    const app = createApp({ db, logger: createLogger('silent') });
    const res = await app.request('/v1/listings?bbox=-122.4,47.5,-122.2,47.7');

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toContain('database is unavailable');
  });
});
