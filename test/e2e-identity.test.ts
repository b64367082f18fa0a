import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../origin/app.js';
import { identityConfigFrom } from '../origin/auth/config.js';
import { rotateSigningKey } from '../origin/auth/signing-keys.js';
import { createUser } from '../origin/auth/users.js';
import { declaredSourcesFile } from '../origin/bootstrap.js';
import { runSource } from '../origin/etl/run.js';
import type { SourceInput } from '../origin/etl/source-config.js';
import { upsertSource } from '../origin/etl/sources.js';
import { createLogger } from '../origin/logger.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { type EdgeWorker, startEdgeWorker } from './support/edge-worker.js';
import { fixture } from './support/etl.js';

/**
 * Issue 4 end to end: real tokens and keys sent through the real Worker (the deployable bundle,
 * in workerd) to the real origin (createApp over PostgreSQL, on a socket), and back. The steps
 * run in order and share state (a sign-in, a key), like a session would.
 */

const identity = identityConfigFrom({});
const secret = randomBytes(48).toString('base64url');
const email = 'admin@e2e.example';
const password = 'a long enough passphrase';
/** Sent to the Worker as Cloudflare would; the edge signs it into the assertion as `cip`. */
const clientIp = '203.0.113.77';
const SAMPLE_ROWS = 300;

let t: TestDatabase;
let server: ServerType;
let originUrl: string;
let edge: EdgeWorker;
let adminId: number;

beforeAll(async () => {
  t = await createTestDatabase();
  // A small King County load through the real ETL: the shipped source definition, over the
  // first rows of its sample file.
  const shipped = (JSON.parse(readFileSync(declaredSourcesFile, 'utf8')) as SourceInput[]).find(
    (s) => s.name === 'king-county',
  ) as SourceInput & { location: string };
  const lines = readFileSync(shipped.location, 'utf8').split('\n');
  await upsertSource(t.db, {
    ...shipped,
    location: fixture(`${lines.slice(0, SAMPLE_ROWS + 1).join('\n')}\n`),
  });
  const loaded = await runSource(t.db, 'king-county');
  expect(loaded.status).toBe('succeeded');

  const app = createApp({
    db: t.db,
    logger: createLogger('silent'),
    identity,
    edgeAssertionSecret: secret,
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  originUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  edge = await startEdgeWorker({
    originUrl,
    edgeAssertionSecret: secret,
    issuer: identity.issuer,
    audience: identity.audience,
    apiKeyCacheTtl: 1,
  });
  adminId = (await createUser(t.db, { email, password, role: 'admin', audit: { actor: 'test' } }))
    .id;
});

afterAll(async () => {
  await edge?.stop();
  await new Promise((resolve) => server?.close(resolve));
  await t?.drop();
});

type Json = Record<string, unknown>;

/** A request through the Worker, as a client behind Cloudflare would send it. */
async function viaEdge(
  method: string,
  path: string,
  { token, apiKey, body }: { token?: string; apiKey?: string; body?: unknown } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers: Record<string, string> = { 'CF-Connecting-IP': clientIp };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (apiKey) headers['X-API-Key'] = apiKey;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await edge.fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

async function signIn(): Promise<{ access: string; refresh: string }> {
  const res = await viaEdge('POST', '/v1/auth/token', { body: { email, password } });
  expect(res.status).toBe(200);
  return { access: res.body.access_token as string, refresh: res.body.refresh_token as string };
}

async function auditRows(action: string) {
  return t.db.rows<{
    actor: string | null;
    target: string | null;
    ip: string | null;
    outcome: string;
  }>(sql`select actor, target, ip, outcome from audit_log where action = ${action} order by id`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('identity end to end, through the Worker to the origin', () => {
  let session: { access: string; refresh: string };
  /** When the edge first fetched the JWKS: jose refetches on an unknown kid 30 s after at most. */
  let jwksFetchedAt = 0;
  let apiKey: { id: number; key: string };

  it('signs in through the Worker and starts an ETL run with the token', async () => {
    session = await signIn();
    jwksFetchedAt = Date.now();
    const started = await viaEdge('POST', '/v1/etl/runs', {
      token: session.access,
      body: { source: 'king-county' },
    });
    expect(started.status).toBe(202);
    expect(started.body.status).toBe('running');
    // Let the run end before the database goes away (and prove etl:read passes both layers).
    const deadline = Date.now() + 20_000;
    let status = 'running';
    while (status === 'running' && Date.now() < deadline) {
      await sleep(100);
      const run = await viaEdge('GET', `/v1/etl/runs/${started.body.id}`, {
        token: session.access,
      });
      expect(run.status).toBe(200);
      status = run.body.status as string;
    }
    expect(status).toBe('succeeded');

    const logins = await auditRows('auth.login');
    expect(logins).toEqual([
      expect.objectContaining({ actor: `user:${adminId}`, outcome: 'success', ip: clientIp }),
    ]);
    // The run's audit entry names who started it: the principal the edge asserted.
    expect(await auditRows('etl.run.start')).toEqual([
      expect.objectContaining({
        actor: `user:${adminId}`,
        target: 'source:king-county',
        ip: clientIp,
      }),
    ]);
  });

  it('serves a read route to an anonymous caller', async () => {
    const res = await viaEdge('GET', '/v1/listings?limit=3');
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(3);
  });

  it('creates an API key through the Worker and honours its scopes', async () => {
    const created = await viaEdge('POST', '/v1/api-keys', {
      token: session.access,
      body: { name: 'e2e dashboard', scopes: ['listings:read'] },
    });
    expect(created.status).toBe(201);
    apiKey = { id: created.body.id as number, key: created.body.key as string };
    expect(apiKey.key).toMatch(/^ee_/);

    const inScope = await viaEdge('GET', '/v1/listings?limit=1', { apiKey: apiKey.key });
    expect(inScope.status).toBe(200);
    expect(inScope.body.items).toHaveLength(1);
    const outOfScope = await viaEdge('POST', '/v1/etl/runs', {
      apiKey: apiKey.key,
      body: { source: 'king-county' },
    });
    expect(outOfScope.status).toBe(403);
    expect(outOfScope.headers.get('WWW-Authenticate')).toContain('scope="etl:run"');

    expect(await auditRows('api_key.create')).toEqual([
      expect.objectContaining({
        actor: `user:${adminId}`,
        target: `api_key:${apiKey.id}`,
        outcome: 'success',
        ip: clientIp,
      }),
    ]);
  });

  it('refuses a revoked key within the edge cache TTL', async () => {
    const revoked = await viaEdge('DELETE', `/v1/api-keys/${apiKey.id}`, { token: session.access });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toEqual(expect.any(String));

    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 3_000) {
      status = (await viaEdge('GET', '/v1/listings?limit=1', { apiKey: apiKey.key })).status;
      if (status === 200) await sleep(100);
    }
    expect(status).toBe(401);
    expect(await auditRows('api_key.revoke')).toEqual([
      expect.objectContaining({ actor: `user:${adminId}`, target: `api_key:${apiKey.id}` }),
    ]);
  });

  it('rotates refresh tokens, and a reuse revokes the whole family', async () => {
    const first = await signIn();
    const next = await viaEdge('POST', '/v1/auth/refresh', {
      body: { refresh_token: first.refresh },
    });
    expect(next.status).toBe(200);
    const second = next.body.refresh_token as string;
    expect(second).not.toBe(first.refresh);

    const reuse = await viaEdge('POST', '/v1/auth/refresh', {
      body: { refresh_token: first.refresh },
    });
    expect(reuse.status).toBe(401);
    // The legitimate successor dies with the family.
    const afterReuse = await viaEdge('POST', '/v1/auth/refresh', {
      body: { refresh_token: second },
    });
    expect(afterReuse.status).toBe(401);
    expect(await auditRows('auth.refresh_reuse')).toEqual([
      expect.objectContaining({ actor: `user:${adminId}` }),
    ]);
  });

  it('accepts a token from a rotated signing key (JWKS refetch) while an old one still verifies', async () => {
    const oldToken = session.access;
    await rotateSigningKey(t.db, {
      encryptionSecret: undefined,
      accessTokenTtlMinutes: identity.accessTokenTtlMinutes,
    });
    const fresh = await signIn();
    expect(decodeProtectedHeader(fresh.access).kid).not.toBe(decodeProtectedHeader(oldToken).kid);
    // The edge refetches the JWKS on an unknown kid at most once per 30 s (its cooldown against
    // floods of made-up kids). Inside it, the new kid is unknown to the edge: refused there, which
    // shows the token is verified at the edge and not waved through by the origin. (Checked only
    // when the steps above were quick enough to leave a clear margin on a loaded machine.)
    if (Date.now() < jwksFetchedAt + 20_000) {
      const early = await viaEdge('GET', '/v1/api-keys', { token: fresh.access });
      expect(early.status).toBe(401);
      expect(early.headers.get('WWW-Authenticate')).toContain('error="invalid_token"');
    }
    await sleep(Math.max(0, jwksFetchedAt + 31_000 - Date.now()));

    const withNew = await viaEdge('GET', '/v1/api-keys', { token: fresh.access });
    expect(withNew.status).toBe(200);
    const withOld = await viaEdge('GET', '/v1/api-keys', { token: oldToken });
    expect(withOld.status).toBe(200);
  });

  it('refuses a request sent straight to the origin, without an assertion', async () => {
    const res = await fetch(`${originUrl}/v1/listings?limit=1`, {
      headers: { Authorization: `Bearer ${session.access}` },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toBe('EdgeAssertion');
    expect(res.headers.get('Content-Type')).toContain('application/problem+json');
  });
});
