import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { signAssertion } from '../../test/support/edge-assertion.js';
import { createApp } from '../app.js';
import { createApiKey } from '../auth/api-keys.js';
import { identityConfigFrom } from '../auth/config.js';
import { mintAccessToken } from '../auth/testing.js';
import { createUser } from '../auth/users.js';
import { createLogger } from '../logger.js';

/**
 * authenticate() behind the edge: the principal comes from the edge's assertion, never from the
 * bearer; without the edge (no secret), from the bearer. The real app over a real database.
 */

const secret = randomBytes(32).toString('base64url');
const identity = identityConfigFrom({});
let t: TestDatabase;
let behindEdge: ReturnType<typeof createApp>;
let noEdge: ReturnType<typeof createApp>;
let userId: number;
let otherId: number;

beforeAll(async () => {
  t = await createTestDatabase();
  const audit = { actor: 'test' };
  userId = (
    await createUser(t.db, { email: 'u@p.example', password: 'x'.repeat(12), role: 'user', audit })
  ).id;
  otherId = (
    await createUser(t.db, { email: 'o@p.example', password: 'x'.repeat(12), role: 'user', audit })
  ).id;
  const logger = createLogger('silent');
  behindEdge = createApp({ db: t.db, logger, identity, edgeAssertionSecret: secret });
  noEdge = createApp({ db: t.db, logger, identity });
});

afterAll(async () => {
  await t.drop();
});

/** An assertion as the edge signs it, bound to the request, for a user unless overridden. */
async function asEdge(path: string, claims: JWTPayload, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  const body = typeof init.body === 'string' ? init.body : null;
  headers.set(
    'X-Edge-Assertion',
    await signAssertion(
      secret,
      { method: init.method ?? 'GET', path, body },
      {
        claims: {
          sub: `user:${userId}`,
          principal_type: 'user',
          scope: 'listings:read stats:read tiles:read keys:write',
          plan: 'standard',
          rid: 'req-principal',
          cip: '198.51.100.4',
          ...claims,
        },
      },
    ),
  );
  const res = await behindEdge.request(path, { ...init, headers });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

const keyBody = (name: string) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ name, scopes: ['listings:read'] }),
});

describe('authenticate behind the edge', () => {
  it('takes the user from the assertion, with no bearer token at all', async () => {
    const { res, body } = await asEdge('/v1/api-keys', {}, keyBody('from the edge'));

    expect(res.status).toBe(201);
    const [entry] = await t.db.rows<{ actor: string; ip: string; request_id: string }>(
      sql`select actor, ip, request_id from audit_log
          where action = 'api_key.create' and target = ${`api_key:${body.id}`}`,
    );
    // The IP is the one the edge signed (cip), not a header anyone could send.
    expect(entry).toEqual({
      actor: `user:${userId}`,
      ip: '198.51.100.4',
      request_id: expect.any(String),
    });
  });

  it('ignores a valid bearer token when the assertion names someone else', async () => {
    await createApiKey(t.db, {
      creator: { userId: otherId, scopes: ['listings:read'], plan: 'standard' },
      name: 'the other user',
      scopes: ['listings:read'],
      audit: { actor: 'test' },
    });
    const othersToken = await mintAccessToken(t.db, identity, {
      sub: `user:${otherId}`,
      scopes: ['keys:write', 'keys:admin'],
    });
    const { res, body } = await asEdge(
      '/v1/api-keys',
      {},
      { headers: { Authorization: `Bearer ${othersToken}` } },
    );

    expect(res.status).toBe(200);
    const owners = new Set((body.items as { owner: string }[]).map((k) => k.owner));
    expect(owners).toEqual(new Set([`user:${userId}`]));
  });

  it('acts for the owner of an API key, and audits the key as the actor', async () => {
    const { record } = await createApiKey(t.db, {
      creator: { userId, scopes: ['listings:read', 'keys:write'], plan: 'standard' },
      name: 'parent',
      scopes: ['listings:read', 'keys:write'],
      audit: { actor: 'test' },
    });
    const { res, body } = await asEdge(
      '/v1/api-keys',
      {
        sub: `api_key:${record.id}`,
        principal_type: 'api_key',
        owner: `user:${userId}`,
        scope: 'listings:read keys:write',
      },
      keyBody('made by a key'),
    );

    expect(res.status).toBe(201);
    expect(body.owner).toBe(`user:${userId}`);
    const [entry] = await t.db.rows<{ actor: string }>(
      sql`select actor from audit_log where action = 'api_key.create' and target = ${`api_key:${body.id}`}`,
    );
    expect(entry?.actor).toBe(`api_key:${record.id}`);
  });

  it('answers 403 naming the scope when the asserted principal lacks it', async () => {
    const { res, body } = await asEdge('/v1/audit', {});

    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('scope="audit:read"');
    expect(body.detail).toMatch(/audit:read/);
  });

  it('refuses the anonymous and the edge principals on a route that needs a user', async () => {
    for (const type of ['anonymous', 'edge']) {
      const { res } = await asEdge('/v1/api-keys', {
        sub: type,
        principal_type: type,
        scope: 'listings:read stats:read tiles:read keys:write',
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });

  it('refuses an API-key principal without an owner, and a user id that is not a number', async () => {
    const keyless = await asEdge('/v1/api-keys', { sub: 'api_key:9', principal_type: 'api_key' });
    expect(keyless.res.status).toBe(401);
    const odd = await asEdge('/v1/api-keys', { sub: "user:1' or 1=1" });
    expect(odd.res.status).toBe(401);
    const plan = await asEdge('/v1/api-keys', { plan: 'platinum' });
    expect(plan.res.status).toBe(401);
  });
});

describe('authenticate without the edge (development)', () => {
  it('verifies the bearer token itself', async () => {
    const token = await mintAccessToken(t.db, identity, {
      sub: `user:${userId}`,
      scopes: ['keys:write'],
    });
    const res = await noEdge.request('/v1/api-keys', {
      headers: { Authorization: `Bearer ${token}` },
    });

    expect(res.status).toBe(200);
    const missing = await noEdge.request('/v1/api-keys');
    expect(missing.status).toBe(401);
  });
});

describe('POST /v1/auth/introspect-key behind the edge', () => {
  const lookup = { method: 'POST', headers: { 'Content-Type': 'application/json' } };

  it("answers only the edge's own principal", async () => {
    const { record, key } = await createApiKey(t.db, {
      creator: { userId, scopes: ['listings:read'], plan: 'standard' },
      name: 'looked up',
      scopes: ['listings:read'],
      audit: { actor: 'test' },
    });
    const body = JSON.stringify({ key });

    const byEdge = await asEdge(
      '/v1/auth/introspect-key',
      { sub: 'edge', principal_type: 'edge', scope: 'keys:introspect' },
      { ...lookup, body },
    );
    expect(byEdge.res.status).toBe(200);
    expect(byEdge.body.principal).toBe(`api_key:${record.id}`);

    // A client the edge vouched for, even an admin, is not the edge: no key oracle.
    for (const claims of [{}, { principal_type: 'anonymous', sub: 'anonymous' }]) {
      const { res, body: problem } = await asEdge('/v1/auth/introspect-key', claims, {
        ...lookup,
        body,
      });
      // The route table's `internal` rule, as the edge answers it: not there for a client.
      expect(res.status).toBe(404);
      expect(problem.principal).toBeUndefined();
    }
  });
});
