import { describe, expect, it } from 'vitest';
import { createRouter } from '../../http/router.js';
import { docsRoutes } from './index.js';

// Mounted as app.ts mounts it, on a router of its own: the page does not depend on the rest.
const app = createRouter().route('/docs', docsRoutes);

describe('GET /docs', () => {
  it('serves a page that loads only its own script and styles, under a strict policy', async () => {
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('Content-Security-Policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<script src="/docs/docs.js" defer></script>');
    expect(html).toContain('href="/docs/docs.css"');
    expect(html).toContain('/openapi.json');
    // Works offline: nothing is loaded from another host, and no inline script would run anyway.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
  });

  it('serves its script and styles with their types, revalidated by ETag', async () => {
    for (const [path, type] of [
      ['/docs/docs.js', 'text/javascript; charset=utf-8'],
      ['/docs/docs.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await app.request(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('Content-Type')).toBe(type);
      expect(res.headers.get('Cache-Control')).toBe('no-cache');
      const etag = res.headers.get('ETag') as string;
      expect(etag).toMatch(/^"[\w-]{22}"$/);
      const again = await app.request(path, { headers: { 'If-None-Match': etag } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
    }
  });

  it('renders with textContent only and fetches nothing but this origin', async () => {
    const script = await (await app.request('/docs/docs.js')).text();
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    expect(script).not.toMatch(/https?:\/\//);
    expect(script).toContain("fetch('/openapi.json'");
    // The script parses as JavaScript.
    expect(() => new Function(script)).not.toThrow();
  });

  it('answers 404 for any other file under /docs', async () => {
    expect((await app.request('/docs/../app.ts')).status).toBe(404);
    expect((await app.request('/docs/secrets.json')).status).toBe(404);
  });
});
