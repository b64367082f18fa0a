import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { singleQueryParameters } from './query-params.js';

const app = new Hono();
app.use(singleQueryParameters());
app.get('/v1/tiles/x', (c) => c.json({ first: c.req.query('price_max') ?? null }));

describe('singleQueryParameters', () => {
  it('refuses a parameter given twice, in either order or spelling, with 400 problem+json', async () => {
    for (const query of [
      'price_max=500000&price_max=900000',
      'price_max=900000&price_max=500000',
      'price%5Fmax=1&price_max=2',
    ]) {
      const res = await app.request(`/v1/tiles/x?${query}`);

      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(((await res.json()) as { detail: string }).detail).toMatch(
        /'price_max' is given more than once/,
      );
    }
  });

  it('lets every query through whose names appear once', async () => {
    const res = await app.request('/v1/tiles/x?price_max=1&price_min=0&status=Active,Pending');

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ first: '1' });
  });
});
