import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, inject, it, vi } from 'vitest';
import { EDGE_ASSERTION_TTL_SECONDS } from '../../../contract/assertion';
import { protectedRoutes, runCommonRouteTests } from '../../test/common-route-tests';
import { assertionClaims, expectRefused, recordedFor, send } from '../../test/edge-client';
import { introspectionPath, testApiKey, testReadScopes } from '../../test/recorder-contract';
import { accessClaims, allScopes, base64url, signAccessToken, signRawJws } from '../../test/tokens';

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
const now = () => Math.floor(Date.now() / 1000);

describe('a valid access token', () => {
  it('is forwarded with an assertion carrying its principal, scopes, plan and request id', async () => {
    const token = await signAccessToken({ claims: { sub: 'user:42', scope: allScopes } });
    const { res, requestId, recorded } = await send('/v1/listings?limit=1', {
      headers: { authorization: `Bearer ${token}`, 'cf-connecting-ip': '203.0.113.7' },
    });

    expect(res.status).toBe(200);
    expect(recorded).toHaveLength(1);
    const claims = await assertionClaims(recorded[0]);
    expect(claims).toMatchObject({
      iss: 'estate-edge-worker',
      aud: 'estate-edge-origin',
      sub: 'user:42',
      principal_type: 'user',
      scope: allScopes,
      plan: 'pro',
      rid: requestId,
      cip: '203.0.113.7',
    });
    expect(recorded[0]?.headers['x-request-id']).toBe(requestId);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(EDGE_ASSERTION_TTL_SECONDS);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    // The origin's own auth routes still read the bearer, so it travels unchanged.
    expect(recorded[0]?.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('may be signed with EdDSA as well as ES256', async () => {
    const token = await signAccessToken({ key: 'ed25519', claims: { sub: 'user:5' } });
    const { res, recorded } = await send('/v1/stats', bearer(token));

    expect(res.status).toBe(200);
    expect(await assertionClaims(recorded[0])).toMatchObject({ sub: 'user:5' });
  });

  it('gives each forwarded request its own assertion id', async () => {
    const token = await signAccessToken();
    const first = await send('/v1/listings', bearer(token));
    const second = await send('/v1/listings', bearer(token));

    const [a, b] = [
      await assertionClaims(first.recorded[0]),
      await assertionClaims(second.recorded[0]),
    ];
    expect(a.jti).not.toBe(b.jti);
  });
});

describe('hostile access tokens', () => {
  const refusedToken = async (token: string) =>
    expectRefused(await send('/v1/listings', bearer(token)), 401, /error="invalid_token"/);

  it('refuses alg: none', async () => {
    await refusedToken(
      await signRawJws({ alg: 'none', typ: 'at+jwt' }, accessClaims(), { none: true }),
    );
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    const { d: _private, ...publicJwk } = inject('signingKeys').es256;
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const header = { alg: 'HS256', kid: publicJwk.kid, typ: 'at+jwt' };
    await refusedToken(await signRawJws(header, accessClaims(), { hs256: secret }));
  });

  it('refuses a valid token from another key with the same kid', async () => {
    const body = await refusedToken(await signAccessToken({ key: 'impostor' }));
    expect(body.detail).toMatch(/signature/);
  });

  it('refuses an expired token', async () => {
    const body = await refusedToken(
      await signAccessToken({
        claims: { iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 },
      }),
    );
    expect(body.detail).toMatch(/expired/);
  });

  it('refuses a token whose nbf is in the future', async () => {
    const body = await refusedToken(await signAccessToken({ claims: { nbf: now() + 3600 } }));
    expect(body.detail).toMatch(/not valid yet/);
  });

  it('refuses a wrong issuer or audience', async () => {
    await refusedToken(await signAccessToken({ claims: { iss: 'https://evil.example' } }));
    await refusedToken(await signAccessToken({ claims: { aud: 'another-api' } }));
  });

  it('refuses an unknown kid', async () => {
    const body = await refusedToken(await signAccessToken({ header: { kid: 'made-up-kid' } }));
    expect(body.detail).toMatch(/unknown key/);
  });

  it('refuses a tampered payload', async () => {
    const [header, , signature] = (
      await signAccessToken({ claims: { scope: 'listings:read' } })
    ).split('.');
    const forged = base64url(accessClaims({ scope: allScopes, plan: 'admin' }));
    await refusedToken(`${header}.${forged}.${signature}`);
  });

  it('refuses a 10 KB token as too long, and a 100 KB one at the size guard', async () => {
    const body = await refusedToken(`${'a'.repeat(10 * 1024)}.b.c`);
    expect(body.detail).toMatch(/too long/);
    // Over 16 KiB of headers: refused before authentication (edge/middleware/request-size).
    const huge = await send('/v1/listings', bearer(`${'a'.repeat(100 * 1024)}.b.c`));
    expect(huge.res.status).toBe(431);
    expect(huge.res.headers.get('content-type')).toBe('application/problem+json');
    expect(huge.recorded).toEqual([]);
  });

  it('refuses an unknown crit header', async () => {
    const header = {
      alg: 'ES256',
      kid: 'test-es256',
      typ: 'at+jwt',
      crit: ['x-must'],
      'x-must': 1,
    };
    await refusedToken(await signRawJws(header, accessClaims(), { es256: true }));
  });

  it('accepts the same hand-built signature without crit (the crit test is not vacuous)', async () => {
    const header = { alg: 'ES256', kid: 'test-es256', typ: 'at+jwt' };
    const { res } = await send(
      '/v1/listings',
      bearer(await signRawJws(header, accessClaims(), { es256: true })),
    );
    expect(res.status).toBe(200);
  });

  it('refuses malformed base64 segments and a token that is not a JWT', async () => {
    const valid = await signAccessToken();
    const [, payload, signature] = valid.split('.');
    await refusedToken(`e30%%%.${payload}.${signature}`);
    await refusedToken(`${base64url('not an object')}.${payload}.${signature}`);
    await refusedToken('abc');
    await refusedToken(`${valid}.extra`);
  });

  it('refuses a token signed for another purpose (typ is not at+jwt)', async () => {
    await refusedToken(await signAccessToken({ header: { typ: 'refresh+jwt' } }));
  });

  it('refuses a token in the query string with 400, without forwarding it', async () => {
    const token = await signAccessToken();
    for (const name of ['access_token', 'api_key']) {
      const sent = await send(`/v1/listings?${name}=${token}`);
      await expectRefused(sent, 400, /error="invalid_request"/);
    }
  });

  it('treats another scheme or an empty bearer as bad credentials, not as anonymous', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer   ']) {
      await expectRefused(await send('/v1/listings', { headers: { authorization } }), 401);
    }
  });
});

describe('API keys', () => {
  it('forwards a valid key as its api_key principal, via Authorization or X-API-Key', async () => {
    const variants: Record<string, string>[] = [
      { authorization: `Bearer ${testApiKey('read')}` },
      { 'x-api-key': testApiKey('read') },
    ];
    for (const headers of variants) {
      const { res, recorded } = await send('/v1/listings', { headers });
      expect(res.status).toBe(200);
      const forwarded = recorded.find((r) => r.url === '/v1/listings');
      expect(await assertionClaims(forwarded)).toMatchObject({
        principal_type: 'api_key',
        sub: expect.stringMatching(/^api_key:r/),
        owner: 'user:2',
        scope: testReadScopes,
        plan: 'standard',
      });
    }
  });

  it('asks the origin as the edge itself, never forwarding the lookup as the caller', async () => {
    const key = testApiKey('read');
    const { recorded } = await send('/v1/listings', { headers: { 'x-api-key': key } });

    const lookup = recorded.find((r) => r.url === introspectionPath);
    expect(lookup?.method).toBe('POST');
    expect(JSON.parse(lookup?.body ?? 'null')).toEqual({ key });
    expect(await assertionClaims(lookup)).toMatchObject({
      sub: 'edge',
      principal_type: 'edge',
      scope: 'keys:introspect',
    });
  });

  it('caches the lookup: the second call does not reach the introspection endpoint', async () => {
    const key = testApiKey('read');
    const first = await send('/v1/listings', { headers: { 'x-api-key': key } });
    const second = await send('/v1/listings', { headers: { 'x-api-key': key } });

    expect(first.recorded.map((r) => r.url)).toEqual([introspectionPath, '/v1/listings']);
    expect(second.res.status).toBe(200);
    expect(second.recorded.map((r) => r.url)).toEqual(['/v1/listings']);
  });

  it('refuses a revoked key with 401, and caches that answer too', async () => {
    const key = testApiKey('revoked');
    const first = await send('/v1/listings', { headers: { 'x-api-key': key } });
    expect(first.recorded.map((r) => r.url)).toEqual([introspectionPath]);
    await expectRefused(first, 401, /invalid_token/);

    const second = await send('/v1/listings', { headers: { 'x-api-key': key } });
    expect(second.recorded).toEqual([]);
    await expectRefused(second, 401, /invalid_token/);
  });

  it('refuses a key with the wrong prefix or shape without asking the origin', async () => {
    for (const key of [
      `sk_live_abcdefgh_${'k'.repeat(43)}`,
      'ee_live_short_x',
      `ee_${'x'.repeat(300)}`,
    ]) {
      const sent = await send('/v1/listings', { headers: { 'x-api-key': key } });
      expect(sent.recorded).toEqual([]);
      await expectRefused(sent, 401, /invalid_token/);
    }
  });

  it('gives 403 to a valid key lacking the scope', async () => {
    const sent = await send('/v1/etl/runs', {
      method: 'POST',
      headers: { 'x-api-key': testApiKey('read') },
    });
    expect(sent.res.status).toBe(403);
    expect(sent.recorded.map((r) => r.url)).toEqual([introspectionPath]);
  });

  it('refuses a request that sends both a token and a key with 400', async () => {
    const sent = await send('/v1/listings', {
      headers: {
        authorization: `Bearer ${await signAccessToken()}`,
        'x-api-key': testApiKey('read'),
      },
    });
    await expectRefused(sent, 400, /invalid_request/);
  });
});

describe('anonymous callers', () => {
  it('may read, as the anonymous principal with the read scopes', async () => {
    const { res, recorded } = await send('/v1/listings');

    expect(res.status).toBe(200);
    expect(await assertionClaims(recorded[0])).toMatchObject({
      sub: 'anonymous',
      principal_type: 'anonymous',
      scope: 'listings:read stats:read tiles:read',
      plan: 'anonymous',
    });
  });

  it('may not start an ETL run: 401 with a challenge that carries no error code', async () => {
    const sent = await send('/v1/etl/runs', { method: 'POST' });
    await expectRefused(sent, 401, /^Bearer realm="estate-edge"$/);
  });

  it('get 401 everywhere but /v1/auth when ANONYMOUS_ACCESS is "false"', async () => {
    const { default: worker } = await import('../../index');
    const closed = { ...env, ANONYMOUS_ACCESS: 'false' };
    const read = await worker.fetch(
      new Request('https://edge.test/v1/listings'),
      closed,
      createExecutionContext(),
    );
    expect(read.status).toBe(401);
    expect(read.headers.get('www-authenticate')).toBe('Bearer realm="estate-edge"');

    const login = await worker.fetch(
      new Request('https://edge.test/v1/auth/token', { method: 'POST', body: '{}' }),
      closed,
      createExecutionContext(),
    );
    expect(login.status).toBe(200);
  });
});

describe('the route table at the door', () => {
  it('keeps the origin-only endpoints out of reach of clients: 404, nothing forwarded', async () => {
    const admin = bearer(await signAccessToken());
    for (const [method, path] of [
      ['POST', introspectionPath],
      ['POST', '/v1/AUTH//introspect-key'],
    ] as const) {
      const sent = await send(path, { ...admin, method });
      expect(sent.res.status, path).toBe(404);
      expect(sent.recorded).toEqual([]);
    }
  });

  it('forwards /v1/auth without credentials so people can sign in', async () => {
    const { res, recorded } = await send('/v1/auth/token', { method: 'POST', body: '{}' });

    expect(res.status).toBe(200);
    expect(recorded[0]?.url).toBe('/v1/auth/token');
  });

  it('refuses a write no rule covers, even with every scope', async () => {
    const sent = await send('/v1/listings/42', {
      method: 'PUT',
      ...bearer(await signAccessToken()),
    });
    await expectRefused(sent, 403, /insufficient_scope/);
  });

  it('holds case and slash variants of a path to the same rule', async () => {
    const token = await signAccessToken({ claims: { scope: 'listings:read' } });
    for (const path of ['/V1/ETL/runs', '//v1/etl/runs', '/v1/etl/runs/']) {
      const sent = await send(path, { method: 'POST', ...bearer(token) });
      expect(sent.res.status, path).toBe(403);
    }
  });
});

describe('headers only the edge may set', () => {
  it('drops a client-sent X-Edge-Assertion and Access headers and signs its own', async () => {
    const { recorded } = await send('/v1/listings', {
      headers: {
        'x-edge-assertion': 'forged.by.client',
        'cf-access-client-id': 'client-chosen',
        'cf-access-jwt-assertion': 'forged',
      },
    });

    expect(recorded[0]?.headers['x-edge-assertion']).not.toBe('forged.by.client');
    expect(await assertionClaims(recorded[0])).toMatchObject({ sub: 'anonymous' });
    expect(recorded[0]?.headers['cf-access-client-id']).toBeUndefined();
    expect(recorded[0]?.headers['cf-access-jwt-assertion']).toBeUndefined();
  });

  it('sends the Cloudflare Access service token when both secrets are set', async () => {
    const { default: worker } = await import('../../index');
    const withAccess = {
      ...env,
      CF_ACCESS_CLIENT_ID: 'id.access',
      CF_ACCESS_CLIENT_SECRET: 's3cret',
    };
    const res = await worker.fetch(
      new Request('https://edge.test/v1/listings'),
      withAccess,
      createExecutionContext(),
    );
    const [recorded] = await recordedFor(res.headers.get('x-request-id') ?? '');

    expect(recorded?.headers['cf-access-client-id']).toBe('id.access');
    expect(recorded?.headers['cf-access-client-secret']).toBe('s3cret');
  });

  it('fails closed with 500 when EDGE_ASSERTION_SECRET is missing or short', async () => {
    const { default: worker } = await import('../../index');
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    for (const secret of [undefined, 'too-short']) {
      const res = await worker.fetch(
        new Request('https://edge.test/v1/listings'),
        { ...env, EDGE_ASSERTION_SECRET: secret as string },
        createExecutionContext(),
      );
      expect(res.status).toBe(500);
      expect(await res.text()).not.toContain('EDGE_ASSERTION_SECRET');
    }
    // The operator reads the variable's name in the log, never the client.
    expect(String(log.mock.calls[0]?.[0])).toContain('EDGE_ASSERTION_SECRET');
    log.mockRestore();
  });
});

describe('every protected route', () => {
  const routes = protectedRoutes();

  it('includes the admin routes of the table', () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'POST /v1/etl/runs',
        'GET /v1/audit',
        'POST /v1/api-keys',
        'GET /v1/listings',
      ]),
    );
  });

  for (const route of routes) runCommonRouteTests(route);
});
