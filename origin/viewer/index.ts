import { sql } from 'drizzle-orm';
import { compress } from 'hono/compress';
import type { Database } from '../db/database.js';
import { createRouter } from '../http/router.js';
import { TILEJSON_MAXZOOM } from '../routes/tiles/tilejson.js';
import { ASSET_PREFIX, type Asset, VENDOR_PREFIX, viewerAssets } from './assets.js';
import { viewerConfigFromEnv, viewerCsp } from './config.js';

/**
 * The map viewer: `GET /` is a page (MapLibre GL JS) drawing the listings tiles, with filters, a
 * popup per listing and statistics for the visible area. Its script and styles are separate,
 * content-hashed files under a strict CSP (no inline script); the page itself is `no-cache` so a
 * deploy shows at once, the hashed files are cached for a year.
 */

const config = viewerConfigFromEnv();
const CSP = viewerCsp(config);
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The statuses offered as filters, in the order a buyer thinks of them. */
const STATUSES = [
  'Active',
  'Coming Soon',
  'Active Under Contract',
  'Pending',
  'Closed',
  'Expired',
  'Withdrawn',
  'Canceled',
  'Hold',
];

/**
 * The property types present, for the type filter. A DISTINCT over the table is a scan, so the
 * answer is kept for five minutes per database.
 */
const typeCache = new WeakMap<Database, { at: number; types: string[] }>();
async function propertyTypes(db: Database): Promise<string[]> {
  const cached = typeCache.get(db);
  if (cached && Date.now() - cached.at < 300_000) return cached.types;
  const rows = await db.rows<{ t: string }>(
    sql`SELECT DISTINCT property_type AS t FROM listings WHERE property_type IS NOT NULL ORDER BY 1 LIMIT 100`,
  );
  const types = rows.map((r) => r.t);
  typeCache.set(db, { at: Date.now(), types });
  return types;
}

/** JSON for an HTML attribute value in double quotes. */
function attribute(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('&', '&amp;')
    .replaceAll('"', '&quot;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

function sendAsset(asset: Asset, cacheControl: string): Response {
  return new Response(asset.body as Uint8Array<ArrayBuffer>, {
    headers: {
      'Content-Type': asset.type,
      'Cache-Control': cacheControl,
      'X-Content-Type-Options': 'nosniff',
    },
  });
}

export const viewerRoutes = createRouter();

viewerRoutes.get('/', async (c) => {
  const { html } = viewerAssets();
  const page = html.replace(
    '__CONFIG__',
    attribute({
      tiles: '/v1/tiles/listings/{z}/{x}/{y}.mvt',
      tilejson: '/v1/tiles/listings.json',
      maxzoom: TILEJSON_MAXZOOM,
      basemap: config.basemapUrl ?? null,
      statuses: STATUSES,
      types: await propertyTypes(c.get('deps').db),
    }),
  );
  return c.html(page, 200, {
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': CSP,
  });
});

// Text assets compress 4-5x (MapLibre is 1.1 MB raw); only these routes, not the tiles.
viewerRoutes.use('/viewer/*', compress());

viewerRoutes.get(`${ASSET_PREFIX}/:name`, (c) => {
  const asset = viewerAssets().files.get(c.req.param('name'));
  // An old hash (a page from before a deploy) is a plain 404: the name promised that content.
  if (!asset) return c.notFound();
  return sendAsset(asset, IMMUTABLE);
});

viewerRoutes.get(`${VENDOR_PREFIX}/:name`, (c) => {
  const asset = viewerAssets().vendor(c.req.param('name'));
  if (!asset) return c.notFound();
  return sendAsset(asset, IMMUTABLE);
});
