import { randomBytes, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { requireScope, type Scope } from './authz.js';
import { EDGE_ASSERTION_AUDIENCE, EDGE_ASSERTION_ISSUER, edgeAssertion } from './edge-assertion.js';

const secret = randomBytes(32).toString('base64url');

/** An app behind the edge assertion with one route needing `scope`. */
function behindEdge(scope: Scope) {
  return new Hono()
    .use(edgeAssertion({ secret }))
    .post('/x', requireScope(scope), (c) => c.text('ran'));
}

async function asEdge(app: Hono, scopes: string) {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({
    iss: EDGE_ASSERTION_ISSUER,
    aud: EDGE_ASSERTION_AUDIENCE,
    iat: now,
    exp: now + 60,
    jti: randomUUID(),
    sub: 'api_key:4',
    principal_type: 'api_key',
    owner: 'user:1',
    scope: scopes,
    plan: 'standard',
    rid: 'req-authz',
  })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
  return app.request('/x', { method: 'POST', headers: { 'X-Edge-Assertion': assertion } });
}

describe('requireScope', () => {
  it('lets every request through when the app runs without the edge (development)', async () => {
    const app = new Hono().get('/x', requireScope('etl:run'), (c) => c.text('ran'));
    const res = await app.request('/x');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ran');
  });

  it('lets a principal with the scope through, behind the edge', async () => {
    const res = await asEdge(behindEdge('etl:run'), 'listings:read etl:run');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ran');
  });

  it('answers 403 problem+json naming the scope the asserted principal lacks', async () => {
    const res = await asEdge(behindEdge('etl:run'), 'listings:read etl:read etl:runs');

    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="estate-edge", error="insufficient_scope", scope="etl:run"',
    );
    const body = (await res.json()) as { status: number; detail: string };
    expect(body.status).toBe(403);
    expect(body.detail).toContain("'etl:run'");
  });

  it('does not accept a read scope where the admin scope is needed', async () => {
    const app = behindEdge('etl:admin');
    expect((await asEdge(app, 'etl:read')).status).toBe(403);
    expect((await asEdge(app, 'etl:admin')).status).toBe(200);
  });

  it('accepts etl:admin where etl:read is needed, as the edge route policy does', async () => {
    const app = behindEdge('etl:read');
    expect((await asEdge(app, 'etl:admin')).status).toBe(200);
    expect((await asEdge(app, 'etl:run')).status).toBe(403);
  });

  it('returns a named middleware, so a stack trace says which one failed', () => {
    expect(requireScope('etl:read').name).toBe('requireScopeMiddleware');
  });

  it('refuses a malformed scope when the route is defined, not when it is called', () => {
    expect(() => requireScope('etl run' as Scope)).toThrow(/malformed scope/);
  });
});
