import { mkdirSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../origin/app.js';
import { declareShippedSources } from '../origin/bootstrap.js';
import { projectRoot } from '../origin/etl/fetch-input.js';
import { runSource } from '../origin/etl/run.js';
import { upsertSource } from '../origin/etl/sources.js';
import { createLogger } from '../origin/logger.js';
import { syntheticSource, writeSyntheticCsv } from '../scripts/lib/synthetic.js';
import { launchChromium } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

/**
 * The map viewer in a real browser: the real origin app on a random port over a test database
 * with the King County sample and 4,000 synthetic listings (every status), Debian's Chromium
 * driven by playwright-core. The screenshot lands in test/artifacts/viewer.png.
 */

type Rendered = { id: number; status: string };

// The functions below run in the page; the project compiles without the DOM library, so the few
// browser globals they touch are declared here rather than adding DOM types to all origin code.
declare const window: Record<string, unknown>;
declare const document: {
  body: { dataset: Record<string, string | undefined> };
  querySelector(selector: string): { textContent: string | null } | null;
  getElementById(id: string): { textContent: string | null } | null;
};

let t: TestDatabase;
let server: ServerType;
let base: string;
let browser: Browser;
let page: Page;
const consoleProblems: string[] = [];

beforeAll(async () => {
  // Launch first: a missing Chromium should fail fast, with the fix in the message.
  browser = await launchChromium();
  t = await createTestDatabase();
  await declareShippedSources(t.db);
  await runSource(t.db, 'king-county');
  const csv = join(mkdtempSync(join(tmpdir(), 'estate-edge-viewer-')), 'synthetic.csv');
  await writeSyntheticCsv(csv, 4000);
  await upsertSource(t.db, syntheticSource(csv));
  await runSource(t.db, 'synthetic');
  const app = createApp({ db: t.db, logger: createLogger('silent') });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => {
    // VIEWER_DEBUG=1 echoes the page's console, the first thing to look at when this fails.
    if (process.env.VIEWER_DEBUG) console.log('[page]', m.type(), m.text());
    if (m.type() === 'error' || /Content Security Policy|Refused to/.test(m.text()))
      consoleProblems.push(m.text());
  });
  page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`));
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await t?.drop();
});

/**
 * Wait until the map is idle with listings drawn (all of `onlyStatus` when given), and return
 * what is drawn. The condition is a function, not a string: the page's CSP forbids eval.
 */
async function renderedListings(onlyStatus?: string): Promise<Rendered[]> {
  const handle = await page.waitForFunction(
    (status) => {
      // biome-ignore lint/suspicious/noExplicitAny: the page's own handle, untyped on purpose
      const map = (window as any).__map;
      if (!map?.loaded() || !map.areTilesLoaded()) return false;
      const rendered = map
        .queryRenderedFeatures({ layers: ['listings'] })
        .map((f: { id: unknown; properties: { standard_status: string } }) => ({
          id: Number(f.id),
          status: f.properties.standard_status,
        }));
      if (rendered.length === 0) return false;
      if (status && !rendered.every((f: { status: string }) => f.status === status)) return false;
      return rendered;
    },
    onlyStatus,
    { timeout: 60_000, polling: 250 },
  );
  return (await handle.jsonValue()) as Rendered[];
}

describe('the map viewer in Chromium', () => {
  it('draws the listings, filters them by status, opens a popup with the price, and shows stats', async () => {
    const res = await page.goto(`${base}/`, { waitUntil: 'load', timeout: 60_000 });
    expect(res?.status()).toBe(200);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, {
      timeout: 60_000,
    });

    // Seattle at a zoom where both the sample's sales and synthetic listings show.
    await page.evaluate(() =>
      (window as unknown as { __map: { jumpTo(o: unknown): void } }).__map.jumpTo({
        center: [-122.3, 47.6],
        zoom: 11,
      }),
    );
    const before = await renderedListings();
    const statusesBefore = new Set(before.map((f) => f.status));
    expect(statusesBefore.has('Closed')).toBe(true);
    expect(statusesBefore.has('Active')).toBe(true);

    // Filter to Active through the form, as a person would.
    await page.check('input[name=status][value=Active]');
    await page.click('#apply');
    const after = await renderedListings('Active');
    expect(after.length).toBeLessThan(before.length);
    const ids = [...new Set(after.map((f) => f.id))];
    const rows = await t.db.rows<{ id: number; standard_status: string }>(
      sql`SELECT id::float8 AS id, standard_status FROM listings WHERE id IN (${sql.join(
        ids.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
    expect(rows).toHaveLength(ids.length);
    expect(rows.every((r) => r.standard_status === 'Active')).toBe(true);
    expect(await page.evaluate(() => document.body.dataset.tileQuery)).toBe('status=Active');

    // Click the drawn listing nearest the middle of the map.
    const target = await page.evaluate(() => {
      // biome-ignore lint/suspicious/noExplicitAny: the page's own handle
      const map = (window as any).__map;
      const canvas = map.getCanvas();
      const mid = { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 };
      let best: { x: number; y: number; d: number } | undefined;
      for (const f of map.queryRenderedFeatures({ layers: ['listings'] })) {
        const p = map.project(f.geometry.coordinates);
        const d = Math.hypot(p.x - mid.x, p.y - mid.y);
        if (!best || d < best.d) best = { x: p.x, y: p.y, d };
      }
      const box = canvas.getBoundingClientRect();
      return best ? { x: box.left + best.x, y: box.top + best.y } : undefined;
    });
    expect(target).toBeDefined();
    await page.mouse.click(target?.x ?? 0, target?.y ?? 0);
    const popup = page.locator('.maplibregl-popup .popup');
    await popup.waitFor({ state: 'visible', timeout: 30_000 });
    const listingId = Number(await popup.getAttribute('data-listing-id'));
    const [listing] = await t.db.rows<{ price: number; standard_status: string }>(
      sql`SELECT COALESCE(close_price, list_price)::float8 AS price, standard_status FROM listings WHERE id = ${listingId}`,
    );
    expect(listing?.standard_status).toBe('Active');
    const price = new Intl.NumberFormat('en-US', {
      style: 'currency',
      currency: 'USD',
      maximumFractionDigits: 0,
    }).format(listing?.price ?? Number.NaN);
    await expect.poll(() => popup.locator('.price').textContent(), { timeout: 10_000 }).toBe(price);
    // The details and comps settle, whether or not those endpoints exist yet.
    await page.waitForFunction(
      () => !document.querySelector('.maplibregl-popup')?.textContent?.includes('Loading'),
      undefined,
      { timeout: 30_000 },
    );

    // The stats panel answered for the visible area (a table, or a clear "unavailable").
    await page.waitForFunction(
      () => !document.getElementById('stats-body')?.textContent?.includes('Move the map'),
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.locator('#stats-body').textContent()).toMatch(/Type|unavailable|No listings/);

    mkdirSync(join(projectRoot, 'test/artifacts'), { recursive: true });
    await page.screenshot({ path: join(projectRoot, 'test/artifacts/viewer.png') });
    expect(
      consoleProblems.filter((m) => /Content Security Policy|Refused to|pageerror/.test(m)),
    ).toEqual([]);
  });

  it('draws cells with their counts when zoomed out, and points again when zoomed in (issue 16)', async () => {
    await page.goto(`${base}/`, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, {
      timeout: 60_000,
    });
    await page.evaluate(() =>
      (window as unknown as { __map: { jumpTo(o: unknown): void } }).__map.jumpTo({
        center: [-122.3, 47.5],
        zoom: 8,
      }),
    );
    const cells = await page.waitForFunction(
      () => {
        // biome-ignore lint/suspicious/noExplicitAny: the page's own handle
        const map = (window as any).__map;
        if (!map?.loaded() || !map.areTilesLoaded()) return false;
        const drawn = map.queryRenderedFeatures({ layers: ['listing-clusters'] });
        if (drawn.length === 0) return false;
        return {
          cells: drawn.length,
          listings: drawn.reduce(
            (n: number, f: { properties: { count: number } }) => n + f.properties.count,
            0,
          ),
          points: map.queryRenderedFeatures({ layers: ['listings'] }).length,
        };
      },
      undefined,
      { timeout: 60_000, polling: 250 },
    );
    const drawn = (await cells.jsonValue()) as { cells: number; listings: number; points: number };
    // Zoomed out, the sample's 21,597 sales are cells standing for them, not points.
    expect(drawn.points).toBe(0);
    expect(drawn.cells).toBeGreaterThan(10);
    expect(drawn.listings).toBeGreaterThan(10_000);
    mkdirSync(join(projectRoot, 'test/artifacts'), { recursive: true });
    await page.screenshot({ path: join(projectRoot, 'test/artifacts/viewer-clusters.png') });

    // A click on a cell says how many listings it holds, and zooms in towards them.
    const target = await page.evaluate(() => {
      // biome-ignore lint/suspicious/noExplicitAny: the page's own handle
      const map = (window as any).__map;
      let best: { x: number; y: number; count: number } | undefined;
      for (const f of map.queryRenderedFeatures({ layers: ['listing-clusters'] })) {
        const p = map.project(f.geometry.coordinates);
        if (!best || f.properties.count > best.count)
          best = { x: p.x, y: p.y, count: f.properties.count };
      }
      const box = map.getCanvas().getBoundingClientRect();
      return best ? { x: box.left + best.x, y: box.top + best.y, count: best.count } : undefined;
    });
    expect(target).toBeDefined();
    await page.mouse.click(target?.x ?? 0, target?.y ?? 0);
    const popup = page.locator('.maplibregl-popup .popup.cluster');
    await popup.waitFor({ state: 'visible', timeout: 30_000 });
    // The cell under the pointer (circles of neighbouring cells can overlap the biggest one).
    expect(Number(await popup.getAttribute('data-count'))).toBeGreaterThan(0);
    expect(await popup.locator('.price').textContent()).toMatch(/median \$[\d,]+/);
    // Zoomed in past the cells' zoom, points again.
    await page.evaluate(() =>
      (window as unknown as { __map: { jumpTo(o: unknown): void } }).__map.jumpTo({
        center: [-122.3, 47.6],
        zoom: 13,
      }),
    );
    expect((await renderedListings()).length).toBeGreaterThan(0);
  });
});
