import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_ASSERTION_HEADER } from '../../contract/assertion.js';
import { createApp } from '../../origin/app.js';
import { identityConfigFrom } from '../../origin/auth/config.js';
import { createUser } from '../../origin/auth/users.js';
import { createLogger } from '../../origin/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import {
  buildEdgeWorker,
  type EdgeBundle,
  type EdgeWorker,
  startEdgeWorker,
} from '../support/edge-worker.js';
import { type OriginServer, startOriginServer } from '../support/origin-server.js';

/**
 * Issue 13, findings 3 and 9, as an attacker would try them: the real Worker bundle in workerd in
 * front of the real origin on PostGIS, with a tap on the tunnel that keeps every assertion the
 * Worker sends (what someone who can read the origin's traffic or logs would hold). The
 * captured assertions are then replayed straight at the origin: with another method, path, query
 * or body; at a second replica sharing the database; after a restart. Before the assertion was
 * bound to its request and writes recorded in PostgreSQL, each of these was accepted (only an
 * exact replay to the same process was refused).
 */

const identity = identityConfigFrom({});
const secret = randomBytes(32).toString('base64url');
const nextSecret = randomBytes(32).toString('base64url');
const admin = { email: 'admin@attack.example', password: 'a long enough passphrase' };

let t: TestDatabase;
let bundle: EdgeBundle;
let origin: OriginServer;
let edge: EdgeWorker;
let adminToken: string;
/** What the Worker sent through the tunnel, in order. */
const tapped: { method: string; path: string; assertion: string | null; body: string }[] = [];

const replica = (secrets: { current: string; previous?: string } = { current: secret }) =>
  createApp({
    db: t.db,
    logger: createLogger('silent'),
    identity,
    edgeAssertionSecret: secrets.current,
    edgeAssertionPreviousSecret: secrets.previous,
  });

beforeAll(async () => {
  const [b, db] = await Promise.all([buildEdgeWorker(), createTestDatabase()]);
  bundle = b;
  t = db;
  await createUser(t.db, { ...admin, role: 'admin', audit: { actor: 'test' } });
  const app = replica();
  origin = await startOriginServer({
    fetch: async (request: Request) => {
      const body = await request.clone().text();
      const url = new URL(request.url);
      tapped.push({
        method: request.method,
        path: `${url.pathname}${url.search}`,
        assertion: request.headers.get(EDGE_ASSERTION_HEADER),
        body,
      });
      return app.fetch(request);
    },
  });
  edge = await startEdgeWorker({
    bundle,
    originUrl: origin.url,
    edgeAssertionSecret: secret,
    issuer: identity.issuer,
    audience: identity.audience,
    vars: { CACHE_RULES: [] },
  });
  const signIn = await edge.fetch('/v1/auth/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(admin),
  });
  expect(signIn.status).toBe(200);
  adminToken = ((await signIn.json()) as { access_token: string }).access_token;
});

afterAll(async () => {
  await edge?.stop();
  await origin?.stop();
  await bundle?.dispose();
  await t?.drop();
});

/** Sends through the Worker as the admin and returns what the tunnel carried for it. */
async function capture(method: string, path: string, body?: unknown) {
  const before = tapped.length;
  const res = await edge.fetch(path, {
    method,
    headers: {
      Authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const sent = tapped.slice(before).find((r) => r.path === path && r.method === method);
  if (!sent?.assertion) throw new Error(`the Worker sent no assertion for ${method} ${path}`);
  return { res, sent: { ...sent, assertion: sent.assertion } };
}

async function replay(
  app: ReturnType<typeof createApp>,
  assertion: string,
  method: string,
  path: string,
  body?: string,
) {
  const res = await app.request(path, {
    method,
    headers: {
      [EDGE_ASSERTION_HEADER]: assertion,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('a captured assertion', () => {
  it('opens no other path, query or method than the one it was made for', async () => {
    const { res, sent } = await capture('GET', '/v1/listings?limit=1');
    expect(res.status).toBe(200);

    for (const [method, path] of [
      ['GET', '/v1/audit'],
      ['GET', '/v1/listings?limit=500'],
      ['GET', '/v1/etl/sources'],
      ['DELETE', '/v1/api-keys/1'],
    ] as const) {
      const answer = await replay(replica(), sent.assertion, method, path);
      expect(answer.status, `${method} ${path}`).toBe(401);
      expect(answer.type).toBe('application/problem+json');
      expect(answer.text).toMatch(/another (method|path or query)/);
    }
  });

  it('cannot carry another body', async () => {
    const { res, sent } = await capture('POST', '/v1/api-keys', {
      name: 'first',
      scopes: ['listings:read'],
    });
    expect(res.status).toBe(201);

    const forged = JSON.stringify({ name: 'forged', scopes: ['keys:admin', 'users:admin'] });
    const answer = await replay(replica(), sent.assertion, 'POST', '/v1/api-keys', forged);
    expect(answer.status).toBe(401);
    expect(answer.text).toMatch(/another body/);
  });

  it('runs a write once: refused on another replica and after a restart', async () => {
    const { res, sent } = await capture('POST', '/v1/api-keys', {
      name: 'once',
      scopes: ['listings:read'],
    });
    expect(res.status).toBe(201);

    // Another replica over the same database, and this one "restarted" (a new app: nothing in memory).
    for (const app of [replica(), replica()]) {
      const answer = await replay(app, sent.assertion, 'POST', '/v1/api-keys', sent.body);
      expect(answer.status).toBe(401);
      expect(answer.text).toMatch(/already used/);
    }
    const keys = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM api_keys WHERE name = 'once'`,
    );
    expect(keys[0]?.n).toBe(1);
  });
});

describe('rotating EDGE_ASSERTION_SECRET', () => {
  it('has no window of 401s: the origin accepts the current and the previous secret', async () => {
    // Step 1: the origin learns the new secret and keeps the old one as previous; the Worker
    // still signs with the old one. Step 2: the Worker signs with the new one.
    const rotated = await startOriginServer(replica({ current: nextSecret, previous: secret }));
    const workers = await Promise.all(
      [secret, nextSecret].map((s) =>
        startEdgeWorker({
          bundle,
          originUrl: rotated.url,
          edgeAssertionSecret: s,
          issuer: identity.issuer,
          audience: identity.audience,
          vars: { CACHE_RULES: [] },
        }),
      ),
    );
    try {
      for (const worker of workers) {
        const res = await worker.fetch('/v1/listings?limit=1');
        expect(res.status).toBe(200);
      }
      // A Worker with some other secret is still refused.
      const stranger = await startEdgeWorker({
        bundle,
        originUrl: rotated.url,
        edgeAssertionSecret: randomBytes(32).toString('base64url'),
        issuer: identity.issuer,
        audience: identity.audience,
        vars: { CACHE_RULES: [] },
      });
      try {
        expect((await stranger.fetch('/v1/listings?limit=1')).status).toBe(401);
      } finally {
        await stranger.stop();
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await rotated.stop();
    }
  });
});

describe('the origin trusts nothing by default', () => {
  const run = (env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'origin/index.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code?: number; stderr?: string }) => ({
        code: error.code ?? -1,
        stderr: error.stderr ?? '',
      }),
    );

  it('refuses to start without EDGE_ASSERTION_SECRET, naming it', async () => {
    const { code, stderr } = await run({ DATABASE_URL: t.url, PORT: '0' });
    expect(code).not.toBe(0);
    expect(stderr).toContain('EDGE_ASSERTION_SECRET');
    expect(stderr).toContain('INSECURE_NO_EDGE_ASSERTION');
  });

  it('refuses the opt-out in production, and a typo in it', async () => {
    const production = await run({
      DATABASE_URL: t.url,
      NODE_ENV: 'production',
      INSECURE_NO_EDGE_ASSERTION: 'true',
    });
    expect(production.code).not.toBe(0);
    expect(production.stderr).toContain('INSECURE_NO_EDGE_ASSERTION');
    const typo = await run({ DATABASE_URL: t.url, INSECURE_NO_EDGE_ASSERTION: 'True' });
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('INSECURE_NO_EDGE_ASSERTION');
  });
});

describe('forged tokens through the Worker', () => {
  it('answers each with 401 problem+json and never reaches the origin as someone', async () => {
    const before = tapped.length;
    const now = Math.floor(Date.now() / 1000);
    const hs = await new SignJWT({ scope: 'users:admin', plan: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('user:1')
      .setIssuer(identity.issuer)
      .setAudience(identity.audience)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(secret));
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub: 'user:1', scope: 'users:admin', exp: now + 60 }),
    ).toString('base64url')}.`;
    const [header, , signature] = adminToken.split('.');
    const tampered = `${header}.${Buffer.from(
      JSON.stringify({ sub: 'user:1', scope: 'audit:read ops:read', exp: now + 600 }),
    ).toString('base64url')}.${signature}`;
    for (const token of [hs, none, tampered, 'ee_live_not-a-key', 'x'.repeat(5000)]) {
      const res = await edge.fetch('/v1/audit', { headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    expect(tapped.slice(before).filter((r) => r.path === '/v1/audit')).toEqual([]);
  });
});
