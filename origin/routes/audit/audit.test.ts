import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { createApp } from '../../app.js';
import { appendAudit } from '../../auth/audit.js';
import {
  testIdentityConfig as config,
  mintAccessToken,
  runCommonRouteTests,
} from '../../auth/testing.js';
import { createUser } from '../../auth/users.js';
import { createLogger } from '../../logger.js';

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
let token: string;
let sub: string;

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({ db: t.db, logger: createLogger('silent'), identity: config });
  const admin = await createUser(t.db, {
    email: 'root@example.com',
    password: 'a long enough password',
    role: 'admin',
    audit: { actor: 'cli:test' },
  });
  sub = `user:${admin.id}`;
  token = await mintAccessToken(t.db, config, { sub, scopes: ['audit:read'], plan: 'admin' });
  for (let i = 0; i < 25; i++)
    await appendAudit(t.db, {
      actor: i % 2 ? 'user:7' : 'user:8',
      action: i % 3 ? 'x.write' : 'x.read',
      target: `thing:${i}`,
      outcome: 'success',
      details: { i },
    });
});
afterAll(() => t.drop());

type Page = {
  items: { id: number; actor: string; action: string; details: { i?: number } }[];
  next_before_id: number | null;
};
const get = async (query: string) => {
  const res = await app.request(`/v1/audit${query}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return { res, body: (await res.json()) as Page & { detail?: string } };
};

describe('the audit log', () => {
  it('refuses UPDATE, DELETE and TRUNCATE, even from the table owner', async () => {
    for (const statement of [
      sql`UPDATE audit_log SET outcome = 'failure'`,
      sql`DELETE FROM audit_log`,
      sql`TRUNCATE audit_log`,
    ]) {
      await expect(t.db.rows(statement)).rejects.toMatchObject({
        cause: { message: expect.stringMatching(/append-only/) },
      });
    }
    const [row] = await t.db.rows<{ n: number; f: number }>(
      sql`SELECT count(*)::int AS n, count(*) FILTER (WHERE outcome = 'failure')::int AS f FROM audit_log`,
    );
    expect(row?.n).toBeGreaterThanOrEqual(26);
    expect(row?.f).toBe(0);
  });

  it('pages newest first with before_id, and filters by actor, action and since', async () => {
    const seen: number[] = [];
    let cursor = '';
    for (;;) {
      const { body } = await get(`?actor=user:7&limit=5${cursor}`);
      seen.push(...body.items.map((e) => e.details.i ?? -1));
      expect(body.items.every((e) => e.actor === 'user:7')).toBe(true);
      if (body.next_before_id === null) break;
      cursor = `&before_id=${body.next_before_id}`;
    }
    const expected = Array.from({ length: 25 }, (_, i) => i)
      .filter((i) => i % 2 === 1)
      .reverse();
    expect(seen).toEqual(expected);
    const reads = await get('?action=x.read&limit=200');
    expect(reads.body.items.map((e) => e.details.i)).toEqual(
      Array.from({ length: 25 }, (_, i) => i)
        .filter((i) => i % 3 === 0)
        .reverse(),
    );
    expect(
      (await get(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body
        .items,
    ).toEqual([]);
  });

  it('records the user-creation done in setup, with its actor', async () => {
    const { body } = await get('?action=user.create');
    expect(body.items).toHaveLength(1);
    expect(body.items[0]?.actor).toBe('cli:test');
  });

  it.each([
    ['actor', 'nobody'],
    ['actor', 'a'.repeat(10_000)],
    ['action', "x'; DROP TABLE audit_log;--"],
    ['since', 'yesterday'],
    ['limit', '0'],
    ['limit', '201'],
    ['before_id', '-5'],
    ['unknown', '1'],
  ])('answers a bad %s with 400 naming it', async (param, value) => {
    const { res, body } = await get(`?${param}=${encodeURIComponent(value)}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(body.detail).toContain(param);
  });
});

describe('protected audit route', () => {
  runCommonRouteTests(() => ({ app, db: t.db, config, sub }), {
    method: 'GET',
    path: '/v1/audit',
    scope: 'audit:read',
  });
});
