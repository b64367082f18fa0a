import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retireSigningKeysPath, retireSigningKeysScope, routePolicy } from '../contract/routes.js';
import { createApp } from '../origin/app.js';
import { listSigningKeys, rotateSigningKey } from '../origin/auth/signing-keys.js';
import { testIdentityConfig as config } from '../origin/auth/testing.js';
import { createLogger } from '../origin/logger.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { assertionHeaders } from './support/edge-assertion.js';

/**
 * Issue 14, finding 12: nothing scheduled `npm run keys -- retire-expired`, so a rotated-out
 * signing key kept verifying until an operator remembered. The edge's `keys` job now calls this
 * route on its five-minute cron (edge/scheduled/keys.test.ts runs the job in workerd); here the
 * origin's side: the edge's own assertion retires what has expired, anyone else finds no route.
 */

const secret = randomBytes(32).toString('base64url');
let t: TestDatabase;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({
    db: t.db,
    logger: createLogger('silent'),
    identity: config,
    edgeAssertionSecret: secret,
  });
});
afterAll(() => t.drop());

async function retire(claims: Record<string, unknown>) {
  const path = retireSigningKeysPath;
  return app.request(path, {
    method: 'POST',
    headers: await assertionHeaders(secret, { method: 'POST', path, body: null }, { claims }),
  });
}

const asEdge = { sub: 'edge', principal_type: 'edge', scope: retireSigningKeysScope };

const rotate = () =>
  rotateSigningKey(t.db, {
    encryptionSecret: undefined,
    accessTokenTtlMinutes: config.accessTokenTtlMinutes,
  });

describe('POST /v1/api-keys/signing-keys/retire-expired (the edge `keys` job)', () => {
  it('is internal in the route table: the edge with its scope only', () => {
    expect(routePolicy('POST', retireSigningKeysPath)).toEqual({
      kind: 'internal',
      scope: retireSigningKeysScope,
    });
  });

  it('retires a retiring key once its tokens have expired, and audits it as the edge', async () => {
    await rotate();
    const { retiring } = await rotate();
    const [old] = retiring;

    const early = await retire(asEdge);
    expect(early.status).toBe(200);
    expect(await early.json()).toEqual({ retired: [] });

    await t.db.rows(
      sql`UPDATE signing_keys SET verify_until = now() - interval '1 second' WHERE kid = ${old}`,
    );
    const res = await retire(asEdge);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ retired: [old] });
    const statuses = Object.fromEntries(
      (await listSigningKeys(t.db)).map((k) => [k.kid, k.status]),
    );
    expect(statuses[old as string]).toBe('retired');
    const audit = await t.db.rows<{ actor: string; details: { retired: string[] } }>(
      sql`SELECT actor, details FROM audit_log WHERE action = 'signing_key.retire'`,
    );
    expect(audit).toEqual([{ actor: 'edge', details: { retired: [old] } }]);

    // Idempotent: a second trigger of the same slot finds nothing.
    expect(await (await retire(asEdge)).json()).toEqual({ retired: [] });
  });

  it.each([
    ['an admin user', { sub: 'user:1', principal_type: 'user', scope: 'keys:admin keys:write' }],
    ['the edge without the scope', { sub: 'edge', principal_type: 'edge', scope: 'ops:read' }],
    ['an anonymous caller', { sub: 'anonymous', principal_type: 'anonymous', scope: '' }],
  ])('answers %s 404, as if it did not exist', async (_, claims) => {
    const res = await retire(claims);
    expect(res.status).toBe(404);
  });
});
