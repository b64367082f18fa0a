import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { viewerConfigFromEnv, viewerCsp } from './config.js';

/** The viewer's HTTP side: page, assets, caching and CSP. Its behaviour is test/viewer.test.ts. */

let t: TestDatabase;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({ db: t.db, logger: createLogger('silent') });
});
afterAll(async () => {
  await t.drop();
});

function assetUrls(html: string): string[] {
  return [...html.matchAll(/(?:href|src)="(\/viewer\/[^"]+)"/g)].map((m) => m[1] as string);
}

describe('GET /', () => {
  it('is a no-cache page under a CSP with no inline script, naming versioned assets', async () => {
    const res = await app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain('worker-src');
    expect(csp).toMatch(/img-src [^;]*data: blob:/);
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const urls = assetUrls(html);
    expect(urls).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/viewer\/assets\/app\.[0-9a-f]{16}\.js$/),
        expect.stringMatching(/^\/viewer\/assets\/app\.[0-9a-f]{16}\.css$/),
        expect.stringMatching(/^\/viewer\/vendor\/maplibre-gl\/\d+\.\d+\.\d+\/maplibre-gl\.mjs$/),
        expect.stringMatching(/^\/viewer\/vendor\/maplibre-gl\/\d+\.\d+\.\d+\/maplibre-gl\.css$/),
      ]),
    );
    const config = html.match(/name="estate-edge-config" content="([^"]*)"/)?.[1] ?? '';
    const parsed = JSON.parse(
      config
        .replaceAll('&quot;', '"')
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>')
        .replaceAll('&amp;', '&'),
    );
    expect(parsed).toMatchObject({ tiles: '/v1/tiles/listings/{z}/{x}/{y}.mvt', basemap: null });
  });

  it('serves every asset the page names with a year of immutable caching, and 404s for other names', async () => {
    const urls = assetUrls(await (await app.request('/')).text());
    for (const url of [
      ...urls,
      urls
        .find((u) => u.endsWith('maplibre-gl.mjs'))
        ?.replace('maplibre-gl.mjs', 'maplibre-gl-worker.mjs') as string,
    ]) {
      const res = await app.request(url, { headers: { 'Accept-Encoding': 'gzip' } });
      expect(res.status, url).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toMatch(
        url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
      );
      expect(res.headers.get('content-encoding')).toBe('gzip');
    }
    for (const url of [
      '/viewer/assets/app.0000000000000000.js',
      '/viewer/vendor/maplibre-gl/6.0.0/maplibre-gl.mjs',
      '/viewer/vendor/maplibre-gl/6.17.0/..%2Fpackage.json',
      '/viewer/vendor/maplibre-gl/6.17.0/maplibre-gl.mjs.map',
    ]) {
      const res = await app.request(url);
      expect(res.status, url).toBe(404);
    }
  });

  it('imports MapLibre from the versioned URL the page preloads', async () => {
    const html = await (await app.request('/')).text();
    const appJs = assetUrls(html).find((u) => u.endsWith('.js')) as string;
    const maplibre = assetUrls(html).find((u) => u.endsWith('maplibre-gl.mjs')) as string;
    expect(await (await app.request(appJs)).text()).toContain(`from '${maplibre}'`);
  });
});

describe('the viewer configuration', () => {
  it('accepts an http(s) basemap and opens the CSP to its origin only', () => {
    const config = viewerConfigFromEnv({
      VIEWER_BASEMAP_URL: 'https://tiles.example.org/{z}/{x}/{y}.png',
    });
    expect(config.basemapUrl).toBe('https://tiles.example.org/{z}/{x}/{y}.png');
    const csp = viewerCsp(config);
    expect(csp).toContain("img-src 'self' data: blob: https://tiles.example.org");
    expect(csp).toContain("connect-src 'self' https://tiles.example.org");
    expect(viewerConfigFromEnv({}).basemapUrl).toBeUndefined();
  });

  it('refuses a basemap that is not an http(s) URL, naming the variable', () => {
    for (const bad of [
      'javascript:alert(1)',
      'not a url',
      'file:///etc/passwd',
      `https://x/${'a'.repeat(3000)}`,
    ]) {
      expect(() => viewerConfigFromEnv({ VIEWER_BASEMAP_URL: bad }), bad).toThrow(
        /VIEWER_BASEMAP_URL/,
      );
    }
  });
});
