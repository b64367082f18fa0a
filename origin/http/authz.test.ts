import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requireScope, type Scope } from './authz.js';

describe('requireScope', () => {
  it('lets every request through until the identity issue fills it in', async () => {
    const app = new Hono().get('/x', requireScope('etl:run'), (c) => c.text('ran'));
    const res = await app.request('/x');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ran');
  });

  it('returns a named middleware, so a stack trace says which one failed', () => {
    expect(requireScope('etl:read').name).toBe('requireScopeMiddleware');
  });

  it('refuses a malformed scope when the route is defined, not when it is called', () => {
    expect(() => requireScope('etl run' as Scope)).toThrow(/malformed scope/);
  });
});
