import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { assertionHeaders } from '../../test/support/edge-assertion.js';
import { requireScope, type Scope } from './authz.js';
import { edgeAssertion } from './edge-assertion.js';
import { memoryReplayGuard } from './replay-guard.js';

const secret = randomBytes(32).toString('base64url');

/** An app behind the edge assertion with one route needing `scope`. */
function behindEdge(scope: Scope) {
  return new Hono()
    .use(edgeAssertion({ secrets: [secret], replayGuard: memoryReplayGuard() }))
    .post('/x', requireScope(scope), (c) => c.text('ran'));
}

async function asEdge(app: Hono, scopes: string) {
  const headers = await assertionHeaders(
    secret,
    { method: 'POST', path: '/x' },
    {
      claims: {
        sub: 'api_key:4',
        principal_type: 'api_key',
        owner: 'user:1',
        scope: scopes,
        plan: 'standard',
      },
    },
  );
  return app.request('/x', { method: 'POST', headers });
}

describe('requireScope', () => {
  it('lets nobody through unchecked when the app runs without the edge', async () => {
    // Issue 13, finding 3: this passed every request when EDGE_ASSERTION_SECRET was unset.
    const app = new Hono().get('/x', requireScope('etl:run'), (c) => c.text('ran'));
    const res = await app.request('/x');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
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
