import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { assertionHeaders } from '../../../test/support/edge-assertion.js';
import { createApp } from '../../app.js';
import { lookupApiKey } from '../../auth/api-keys.js';
import { roleScopes } from '../../auth/scopes.js';
import {
  testIdentityConfig as config,
  mintAccessToken,
  runCommonRouteTests,
} from '../../auth/testing.js';
import { createUser, disableUser, setUserRole } from '../../auth/users.js';
import { createLogger } from '../../logger.js';

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
/** The same database behind an edge: introspect-key answers the edge's own assertion only. */
let behindEdge: ReturnType<typeof createApp>;
const edgeSecret = randomBytes(32).toString('base64url');
let user: { id: number; token: string };
let other: { id: number; token: string };
let admin: { id: number; token: string };

async function person(email: string, role: 'user' | 'admin') {
  const u = await createUser(t.db, {
    email,
    password: 'a long enough password',
    role,
    audit: { actor: 'cli:test' },
  });
  const token = await mintAccessToken(t.db, config, {
    sub: `user:${u.id}`,
    scopes: roleScopes[role],
    plan: u.plan,
  });
  return { id: u.id, token };
}

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({ db: t.db, logger: createLogger('silent'), identity: config });
  behindEdge = createApp({
    db: t.db,
    logger: createLogger('silent'),
    identity: config,
    edgeAssertionSecret: edgeSecret,
  });
  user = await person('user@example.com', 'user');
  other = await person('other@example.com', 'user');
  admin = await person('admin@example.com', 'admin');
});
afterAll(() => t.drop());

function call(method: string, path: string, token: string, body?: unknown) {
  return app.request(path, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

type Created = {
  id: number;
  key: string;
  prefix: string;
  scope: string;
  plan: string;
  expires_at: string | null;
};

async function create(token: string, body: Record<string, unknown>): Promise<Created> {
  const res = await call('POST', '/v1/api-keys', token, body);
  expect(res.status).toBe(201);
  return (await res.json()) as Created;
}

async function introspect(key: string) {
  const body = JSON.stringify({ key });
  const path = '/v1/auth/introspect-key';
  return behindEdge.request(path, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(await assertionHeaders(
        edgeSecret,
        { method: 'POST', path, body },
        { claims: { sub: 'edge', principal_type: 'edge', scope: 'keys:introspect' } },
      )),
    },
    body,
  });
}

describe('API keys', () => {
  it('returns the key once, stores only its prefix and SHA-256, and audits the creation', async () => {
    const created = await create(user.token, {
      name: 'my app',
      scopes: ['listings:read', 'stats:read'],
    });
    expect(created.key).toMatch(/^ee_live_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$/);
    expect(created.key.startsWith(`${created.prefix}_`)).toBe(true);
    expect(created).toMatchObject({
      scope: 'listings:read stats:read',
      plan: 'standard',
      expires_at: null,
    });
    const [row] = await t.db.rows<Record<string, unknown>>(
      sql`SELECT * FROM api_keys WHERE id = ${created.id}`,
    );
    const secret = created.key.split('_').slice(3).join('_');
    expect(row?.secret_hash).toBe(createHash('sha256').update(secret).digest('base64url'));
    expect(JSON.stringify(row)).not.toContain(secret);
    const list = (await (await call('GET', '/v1/api-keys', user.token)).json()) as {
      items: Record<string, unknown>[];
    };
    expect(list.items.map((k) => k.id)).toContain(created.id);
    expect(JSON.stringify(list)).not.toContain(secret);
    expect(list.items.every((k) => !('key' in k))).toBe(true);
    const [audit] = await t.db.rows<{ actor: string; outcome: string }>(
      sql`SELECT actor, outcome FROM audit_log WHERE action = 'api_key.create' AND target = ${`api_key:${created.id}`}`,
    );
    expect(audit).toEqual({ actor: `user:${user.id}`, outcome: 'success' });
  });

  it('introspects a valid key to its principal, scopes, plan and expiry', async () => {
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const created = await create(user.token, {
      name: 'exp',
      scopes: ['tiles:read'],
      expires_at: expires,
    });
    const res = await introspect(created.key);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      principal: `api_key:${created.id}`,
      owner: `user:${user.id}`,
      scope: 'tiles:read',
      plan: 'standard',
      expires_at: expires,
      credentials_epoch: expect.any(Number),
    });
  });

  it('refuses revoked, expired, wrong-prefix, wrong-secret and malformed keys', async () => {
    const revoked = await create(user.token, { name: 'r', scopes: ['listings:read'] });
    const res = await call('DELETE', `/v1/api-keys/${revoked.id}`, user.token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { revoked_at: string | null }).revoked_at).not.toBeNull();
    expect((await introspect(revoked.key)).status).toBe(401);

    const expired = await create(user.token, { name: 'e', scopes: ['listings:read'] });
    await t.db.rows(
      sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${expired.id}`,
    );
    expect((await introspect(expired.key)).status).toBe(401);

    const good = await create(user.token, { name: 'g', scopes: ['listings:read'] });
    const [, , prefix, ...rest] = good.key.split('_');
    const secret = rest.join('_');
    for (const bad of [
      `ee_test_${prefix}_${secret}`,
      `ee_live_zzzzzzzz_${secret}`,
      `ee_live_${prefix}_${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`,
      `ee_live_${prefix}`,
      "ee_live_'; DROP TABLE api_keys; --",
      'ee_live_ünïcødé_x',
    ]) {
      const r = await introspect(bad);
      expect(r.status).toBe(401);
      expect(r.headers.get('WWW-Authenticate')).toMatch(/^Bearer/);
    }
    expect((await introspect(good.key)).status).toBe(200);
  });

  it('compares the secret for an unknown prefix too, so a miss costs what a hit costs', async () => {
    // Not wall time (noisy on a shared machine): an unknown prefix still goes through the same
    // hash-and-compare, proven by it failing with the same reason as a wrong secret.
    const good = await create(user.token, { name: 'timing', scopes: ['listings:read'] });
    const secret = good.key.split('_').slice(3).join('_');
    const miss = await lookupApiKey(t.db, { key: `ee_live_00000000_${secret}` }).catch((e) => e);
    const wrong = await lookupApiKey(t.db, { key: `${good.prefix}_${'A'.repeat(43)}` }).catch(
      (e) => e,
    );
    expect(miss).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'unknown' });
    expect(wrong).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'unknown' });
  });

  it('refuses a key with a scope its creator lacks, and a plan above theirs (403)', async () => {
    const res = await call('POST', '/v1/api-keys', user.token, { name: 'x', scopes: ['etl:run'] });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { detail: string }).detail).toContain('etl:run');
    expect(
      (
        await call('POST', '/v1/api-keys', user.token, {
          name: 'x',
          scopes: ['listings:read'],
          plan: 'pro',
        })
      ).status,
    ).toBe(403);
    // An admin may grant any scope and plan.
    expect(
      (await create(admin.token, { name: 'ops', scopes: ['etl:run'], plan: 'pro' })).plan,
    ).toBe('pro');
  });

  it('writes last_used_at at most once a minute per key', async () => {
    const created = await create(user.token, { name: 'busy', scopes: ['listings:read'] });
    const lastUsed = async () =>
      (
        await t.db.rows<{ at: string | null }>(
          sql`SELECT last_used_at::text AS at FROM api_keys WHERE id = ${created.id}`,
        )
      )[0]?.at;
    expect(await lastUsed()).toBeNull();
    await introspect(created.key);
    const first = await lastUsed();
    expect(first).not.toBeNull();
    for (let i = 0; i < 3; i++) await introspect(created.key);
    expect(await lastUsed()).toBe(first);
    await t.db.rows(
      sql`UPDATE api_keys SET last_used_at = now() - interval '61 seconds' WHERE id = ${created.id}`,
    );
    await introspect(created.key);
    expect(await lastUsed()).not.toBe(first);
  });

  it("lists and revokes only one's own keys; keys:admin sees and revokes all", async () => {
    const mine = await create(user.token, { name: 'mine', scopes: ['listings:read'] });
    const theirs = await create(other.token, { name: 'theirs', scopes: ['listings:read'] });
    const ids = async (token: string) =>
      (
        (await (await call('GET', '/v1/api-keys', token)).json()) as { items: { id: number }[] }
      ).items.map((k) => k.id);
    expect(await ids(user.token)).toContain(mine.id);
    expect(await ids(user.token)).not.toContain(theirs.id);
    expect(await ids(admin.token)).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    expect((await call('DELETE', `/v1/api-keys/${theirs.id}`, user.token)).status).toBe(404);
    expect((await introspect(theirs.key)).status).toBe(200);
    expect((await call('DELETE', `/v1/api-keys/${theirs.id}`, admin.token)).status).toBe(200);
    expect((await introspect(theirs.key)).status).toBe(401);
    const [audit] = await t.db.rows<{ actor: string }>(
      sql`SELECT actor FROM audit_log WHERE action = 'api_key.revoke' AND target = ${`api_key:${theirs.id}`}`,
    );
    expect(audit?.actor).toBe(`user:${admin.id}`);
  });

  it("answers the key's scopes cut to its owner's current role, and the lower plan", async () => {
    const owner = await person('demote-me@example.com', 'admin');
    const created = await create(owner.token, {
      name: 'ops',
      scopes: ['listings:read', 'audit:read', 'keys:admin'],
      plan: 'pro',
    });
    const before = (await (await introspect(created.key)).json()) as Record<string, unknown>;
    expect(before).toMatchObject({ scope: 'listings:read audit:read keys:admin', plan: 'pro' });

    await setUserRole(t.db, {
      email: 'demote-me@example.com',
      role: 'user',
      plan: 'standard',
      audit: { actor: 'cli:test' },
    });
    const after = (await (await introspect(created.key)).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ scope: 'listings:read', plan: 'standard' });
    // Every such change moves the epoch, so the edge drops what it cached under the old one.
    expect(after.credentials_epoch as number).toBeGreaterThan(before.credentials_epoch as number);
  });

  it('refuses every key of a disabled owner, and moves the epoch', async () => {
    const owner = await person('disable-me@example.com', 'user');
    const created = await create(owner.token, { name: 'app', scopes: ['listings:read'] });
    const { credentials_epoch: epoch } = (await (await introspect(created.key)).json()) as {
      credentials_epoch: number;
    };
    await disableUser(t.db, { email: 'disable-me@example.com', audit: { actor: 'cli:test' } });
    expect((await introspect(created.key)).status).toBe(401);
    const [row] = await t.db.rows<{ epoch: string }>(
      sql`SELECT epoch FROM credentials_epoch WHERE singleton`,
    );
    expect(Number(row?.epoch)).toBeGreaterThan(epoch);
    // A token issued before the disabling cannot mint a key either.
    expect(
      (await call('POST', '/v1/api-keys', owner.token, { name: 'x', scopes: ['listings:read'] }))
        .status,
    ).toBe(401);
  });

  it('does not move the epoch for last_used_at', async () => {
    const created = await create(user.token, { name: 'quiet', scopes: ['listings:read'] });
    await t.db.rows(sql`UPDATE api_keys SET last_used_at = NULL WHERE id = ${created.id}`);
    const epoch = async () =>
      Number(
        (await t.db.rows<{ epoch: string }>(sql`SELECT epoch FROM credentials_epoch`))[0]?.epoch,
      );
    const before = await epoch();
    expect((await introspect(created.key)).status).toBe(200);
    expect(await epoch()).toBe(before);
  });

  it("gives a key minted by a key at most its parent's rights and life, and revokes it with it", async () => {
    const parentExpiry = new Date(Date.now() + 3_600_000);
    const parent = await create(admin.token, {
      name: 'parent',
      scopes: ['listings:read', 'keys:write'],
      plan: 'standard',
      expires_at: parentExpiry.toISOString(),
    });
    const asParent = {
      sub: `api_key:${parent.id}`,
      type: 'api_key' as const,
      userId: admin.id,
      scopes: ['listings:read' as const, 'keys:write' as const],
      plan: 'standard' as const,
    };
    const { createApiKey } = await import('../../auth/api-keys.js');
    const mint = (params: { scopes: ('listings:read' | 'audit:read')[]; expiresAt?: Date }) =>
      createApiKey(t.db, {
        creator: {
          userId: asParent.userId,
          scopes: asParent.scopes,
          plan: asParent.plan,
          keyId: parent.id,
        },
        name: 'child',
        scopes: params.scopes,
        expiresAt: params.expiresAt,
        audit: { actor: asParent.sub },
      });
    const child = await mint({ scopes: ['listings:read'] });
    expect(child.record.expiresAt?.getTime()).toBe(parentExpiry.getTime());
    expect(child.record.parentKeyId).toBe(parent.id);
    await expect(
      mint({ scopes: ['listings:read'], expiresAt: new Date(parentExpiry.getTime() + 1000) }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(mint({ scopes: ['audit:read'] })).rejects.toMatchObject({ code: 'FORBIDDEN' });

    const grandchild = await createApiKey(t.db, {
      creator: {
        userId: admin.id,
        scopes: ['listings:read'],
        plan: 'standard',
        keyId: child.record.id,
      },
      name: 'grandchild',
      scopes: ['listings:read'],
      audit: { actor: `api_key:${child.record.id}` },
    });
    expect((await introspect(grandchild.key)).status).toBe(200);
    // Revoked behind the app's back too (no cascade): the lookup follows the line of parents.
    await t.db.rows(sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${parent.id}`);
    expect((await introspect(child.key)).status).toBe(401);
    expect((await introspect(grandchild.key)).status).toBe(401);
    // Revoked through the API: the descendants are marked revoked as well.
    const other = await create(admin.token, {
      name: 'p2',
      scopes: ['listings:read', 'keys:write'],
    });
    const { record: kid } = await createApiKey(t.db, {
      creator: { userId: admin.id, scopes: ['listings:read'], plan: 'standard', keyId: other.id },
      name: 'kid',
      scopes: ['listings:read'],
      audit: { actor: `api_key:${other.id}` },
    });
    expect((await call('DELETE', `/v1/api-keys/${other.id}`, admin.token)).status).toBe(200);
    const [row] = await t.db.rows<{ revoked: boolean }>(
      sql`SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = ${kid.id}`,
    );
    expect(row?.revoked).toBe(true);
  });

  it.each([
    ['no name', { scopes: ['listings:read'] }, 'name'],
    ['a 10 KB name', { name: 'n'.repeat(10_000), scopes: ['listings:read'] }, 'name'],
    ['SQL in the name', { name: "x'; DROP TABLE api_keys;--", scopes: ['listings:read'] }, 'name'],
    ['no scopes', { name: 'x', scopes: [] }, 'scopes'],
    ['an unknown scope', { name: 'x', scopes: ['root'] }, 'scopes'],
    ['an unknown plan', { name: 'x', scopes: ['listings:read'], plan: 'gold' }, 'plan'],
    [
      'a malformed expiry',
      { name: 'x', scopes: ['listings:read'], expires_at: 'tomorrow' },
      'expires_at',
    ],
    [
      'an expiry in the past',
      { name: 'x', scopes: ['listings:read'], expires_at: '2001-01-01T00:00:00Z' },
      'expires_at',
    ],
    ['an unknown field', { name: 'x', scopes: ['listings:read'], owner_id: 1 }, 'owner_id'],
  ])('POST answers %s with 400 naming %s', async (_label, body, field) => {
    const res = await call('POST', '/v1/api-keys', user.token, body);
    expect(res.status).toBe(400);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(((await res.json()) as { detail: string }).detail).toContain(field);
  });

  it.each([['0'], ['-1'], ['abc'], ['1e3'], ['9'.repeat(30)], ["1'--"]])(
    'DELETE answers the id %s with 400 naming id',
    async (id) => {
      const res = await call('DELETE', `/v1/api-keys/${encodeURIComponent(id)}`, user.token);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toContain('id');
    },
  );

  it('GET answers an unknown query parameter with 400 naming it', async () => {
    const res = await call('GET', '/v1/api-keys?owner=1', user.token);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain('owner');
  });
});

describe('protected API key routes', () => {
  const ctx = () => ({ app, db: t.db, config, sub: `user:${user.id}` });
  runCommonRouteTests(ctx, { method: 'GET', path: '/v1/api-keys', scope: 'keys:write' });
  runCommonRouteTests(ctx, {
    method: 'POST',
    path: '/v1/api-keys',
    scope: 'keys:write',
    body: { name: 'x', scopes: ['listings:read'] },
  });
  runCommonRouteTests(ctx, { method: 'DELETE', path: '/v1/api-keys/1', scope: 'keys:write' });
});
