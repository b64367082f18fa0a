import { randomBytes, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretKeyId } from '../../contract/assertion.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import {
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_ISSUER,
  type EdgePrincipal,
  edgeAssertion,
  edgePrincipalOf,
} from './edge-assertion.js';
import { databaseReplayGuard } from './replay-guard.js';

const secret = randomBytes(32).toString('base64url');
const encoded = new TextEncoder().encode(secret);

let t: TestDatabase;
let app: Hono;

beforeAll(async () => {
  t = await createTestDatabase();
  // The real origin behind the middleware, mounted as app.ts will mount it: before every route.
  app = new Hono();
  app.use(edgeAssertion({ secrets: [secret], replayGuard: databaseReplayGuard(t.db) }));
  app.get('/__whoami', (c) => {
    const principal = edgePrincipalOf(c) as EdgePrincipal;
    return c.json({ ...principal, scopes: [...principal.scopes].sort() });
  });
  app.route('/', createApp({ db: t.db, logger: createLogger('silent') }));
});

afterAll(async () => {
  await t.drop();
});

const now = () => Math.floor(Date.now() / 1000);

/** The claims of an assertion for GET `target` (the binding the edge signs in). */
function claims(overrides: JWTPayload = {}, target = '/__whoami'): JWTPayload {
  return {
    iss: EDGE_ASSERTION_ISSUER,
    aud: EDGE_ASSERTION_AUDIENCE,
    iat: now(),
    exp: now() + 30,
    jti: randomUUID(),
    sub: 'user:7',
    principal_type: 'user',
    scope: 'listings:read stats:read',
    plan: 'pro',
    rid: 'req-123',
    cip: '203.0.113.9',
    htm: 'GET',
    htu: target,
    ...overrides,
  };
}

/** Sign like the edge does, with `key` and `alg` overridable for the hostile cases. */
async function assertion(
  overrides: JWTPayload = {},
  key: Uint8Array = encoded,
  target = '/__whoami',
): Promise<string> {
  return new SignJWT(claims(overrides, target))
    .setProtectedHeader({ alg: 'HS256', kid: await secretKeyId(secret) })
    .sign(key);
}

async function call(path: string, header?: string) {
  const res = await app.request(path, {
    headers: header === undefined ? {} : { 'X-Edge-Assertion': header },
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { res, body };
}

/** A 401 problem+json with the challenge, whose detail matches `detail`. */
async function expectRefused(header: string | undefined, detail: RegExp, path = '/__whoami') {
  const { res, body } = await call(path, header);
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.headers.get('www-authenticate')).toBe('EdgeAssertion');
  expect(body).toMatchObject({ status: 401, title: 'Unauthorized' });
  expect(String(body.detail)).toMatch(detail);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('edgeAssertion', () => {
  it('puts the principal of a valid assertion on the context for the handler', async () => {
    const { res, body } = await call('/__whoami', await assertion());

    expect(res.status).toBe(200);
    expect(body).toEqual({
      id: 'user:7',
      type: 'user',
      scopes: ['listings:read', 'stats:read'],
      plan: 'pro',
      requestId: 'req-123',
      clientIp: '203.0.113.9',
      owner: null,
    });
  });

  it('lets a valid assertion through to the real routes', async () => {
    const { res } = await call(
      '/v1/listings?limit=1',
      await assertion({}, encoded, '/v1/listings?limit=1'),
    );

    expect(res.status).toBe(200);
  });

  it('refuses a request without an assertion, on data routes and the docs alike', async () => {
    await expectRefused(undefined, /no edge assertion/);
    await expectRefused(undefined, /no edge assertion/, '/v1/listings');
    await expectRefused(undefined, /no edge assertion/, '/openapi.json');
  });

  it('keeps liveness open for probes on the private network', async () => {
    const { res, body } = await call('/health');

    expect(res.status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
  });

  it('refuses an expired assertion, even within its 35 s maximum age', async () => {
    await expectRefused(await assertion({ iat: now() - 25, exp: now() - 10 }), /expired/);
  });

  it('refuses an assertion older than 35 s whatever its exp says', async () => {
    await expectRefused(await assertion({ iat: now() - 600, exp: now() + 60 }), /too old/);
  });

  it('tolerates a few seconds of clock skew', async () => {
    const { res } = await call('/__whoami', await assertion({ iat: now(), exp: now() - 3 }));

    expect(res.status).toBe(200);
  });

  it('refuses an assertion signed with another secret', async () => {
    await expectRefused(await assertion({}, randomBytes(32)), /bad signature/);
  });

  it('refuses an unsigned assertion (alg: none)', async () => {
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims())}.`;
    await expectRefused(unsigned, /HS256|malformed/);
  });

  it('refuses an assertion signed with an asymmetric key', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const es256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    await expectRefused(es256, /HS256/);
  });

  it('refuses an assertion for another audience or from another issuer', async () => {
    await expectRefused(await assertion({ aud: 'estate-edge-api' }), /audience/);
    await expectRefused(await assertion({ iss: 'someone-else' }), /issuer/);
  });

  it('refuses an assertion whose principal was tampered with after signing', async () => {
    const [header, , signature] = (await assertion()).split('.');
    const forged = claims({ sub: 'user:1', scope: 'users:admin keys:admin', plan: 'admin' });
    await expectRefused(`${header}.${base64url(forged)}.${signature}`, /bad signature/);
  });

  it('refuses an assertion with malformed claims or a malformed segment', async () => {
    await expectRefused(await assertion({ principal_type: 'root' }), /malformed claims/);
    await expectRefused(await assertion({ scope: ['users:admin'] }), /malformed claims/);
    await expectRefused('not.a.jwt', /malformed/);
    await expectRefused('%%%.***.!!!', /malformed/);
  });

  it('refuses a 100 KB header without parsing it', async () => {
    await expectRefused(`${'a'.repeat(100 * 1024)}.b.c`, /too long/);
  });

  it('refuses the replay of an assertion it has already accepted', async () => {
    const once = await assertion();
    expect((await call('/__whoami', once)).res.status).toBe(200);

    await expectRefused(once, /already used/);
  });

  it('refuses a secret shorter than 32 bytes when it is created', () => {
    expect(() =>
      edgeAssertion({ secrets: ['short'], replayGuard: databaseReplayGuard(t.db) }),
    ).toThrow(/32 bytes/);
  });

  it('lets requests without an assertion through when not required, but still refuses bad ones', async () => {
    const lenient = new Hono()
      .use(
        edgeAssertion({
          secrets: [secret],
          replayGuard: databaseReplayGuard(t.db),
          required: false,
        }),
      )
      .get('/x', (c) => c.json({ principal: edgePrincipalOf(c) }));

    const without = await lenient.request('/x');
    expect(await without.json()).toEqual({ principal: null });

    const bad = await lenient.request('/x', {
      headers: { 'X-Edge-Assertion': await assertion({}, randomBytes(32), '/x') },
    });
    expect(bad.status).toBe(401);
  });
});
