import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import { type Database, openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../logger.js';
import { verifyAccessToken } from './access-tokens.js';
import { testIdentityConfig as config } from './testing.js';
import { createUser } from './users.js';

/** The embedded default: identity works on PGlite too, append-only trigger included. */
const dir = mkdtempSync(join(tmpdir(), 'estate-edge-identity-'));
let db: Database;
beforeAll(async () => {
  db = await openDatabase({ dataDir: join(dir, 'data') });
  await migrate(db);
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('identity on PGlite', () => {
  it('signs in, refreshes, serves the JWKS, and keeps the audit log append-only', async () => {
    await createUser(db, {
      email: 'p@example.com',
      password: 'a long enough password',
      role: 'admin',
      audit: { actor: 'cli:test' },
    });
    const app = createApp({ db, logger: createLogger('silent'), identity: config });
    const login = await app.request('/v1/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: 'p@example.com', password: 'a long enough password' }),
    });
    expect(login.status).toBe(200);
    const tokens = (await login.json()) as { access_token: string; refresh_token: string };
    expect((await verifyAccessToken(db, config, tokens.access_token)).scopes).toContain(
      'audit:read',
    );
    const refreshed = await app.request('/v1/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    expect(refreshed.status).toBe(200);
    const jwks = (await (await app.request('/.well-known/jwks.json')).json()) as {
      keys: unknown[];
    };
    expect(jwks.keys).toHaveLength(1);
    const audit = await app.request('/v1/audit?action=auth.login', {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
    });
    expect(((await audit.json()) as { items: unknown[] }).items).toHaveLength(1);
    await expect(db.rows(sql`DELETE FROM audit_log`)).rejects.toThrow();
    await expect(db.rows(sql`UPDATE audit_log SET actor = 'x'`)).rejects.toThrow();
  });
});
