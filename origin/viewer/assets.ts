import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The viewer's static files, read once and named by content hash so they can be cached for a
 * year (`immutable`): a new deploy changes the name, never the content behind a name. MapLibre is
 * served from node_modules under its package version, which plays the same part.
 */

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const maplibreDist = dirname(require.resolve('maplibre-gl/dist/maplibre-gl.mjs'));
const maplibreVersion = (require('maplibre-gl/package.json') as { version: string }).version;

// The version is a path segment of its own: Hono does not route a literal `@` inside one.
export const VENDOR_PREFIX = `/viewer/vendor/maplibre-gl/${maplibreVersion}`;
export const ASSET_PREFIX = '/viewer/assets';

/** The MapLibre files a page may load: the module, its worker (which it finds next to itself), CSS. */
const VENDOR_FILES = new Set(['maplibre-gl.mjs', 'maplibre-gl-worker.mjs', 'maplibre-gl.css']);

export type Asset = { body: Uint8Array; type: string };

function hashOf(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

export type ViewerAssets = {
  /** The page, with `__CONFIG__` still to fill in per request. */
  html: string;
  /** Our files by their hashed name (`app.1a2b….js`). */
  files: Map<string, Asset>;
  vendor(name: string): Asset | undefined;
};

let loaded: ViewerAssets | undefined;

export function viewerAssets(): ViewerAssets {
  if (loaded) return loaded;
  const maplibreJs = `${VENDOR_PREFIX}/maplibre-gl.mjs`;
  const appJs = readFileSync(join(here, 'static/app.js'), 'utf8').replaceAll(
    '__MAPLIBRE_JS__',
    maplibreJs,
  );
  const appCss = readFileSync(join(here, 'static/app.css'), 'utf8');
  const jsName = `app.${hashOf(appJs)}.js`;
  const cssName = `app.${hashOf(appCss)}.css`;
  const files = new Map<string, Asset>([
    [jsName, { body: new TextEncoder().encode(appJs), type: 'text/javascript; charset=utf-8' }],
    [cssName, { body: new TextEncoder().encode(appCss), type: 'text/css; charset=utf-8' }],
  ]);
  const html = readFileSync(join(here, 'static/index.html'), 'utf8')
    .replaceAll('__MAPLIBRE_JS__', maplibreJs)
    .replaceAll('__MAPLIBRE_CSS__', `${VENDOR_PREFIX}/maplibre-gl.css`)
    .replaceAll('__APP_JS__', `${ASSET_PREFIX}/${jsName}`)
    .replaceAll('__APP_CSS__', `${ASSET_PREFIX}/${cssName}`);
  const vendorCache = new Map<string, Asset>();
  loaded = {
    html,
    files,
    vendor(name) {
      if (!VENDOR_FILES.has(name)) return undefined;
      let asset = vendorCache.get(name);
      if (!asset) {
        asset = {
          body: readFileSync(join(maplibreDist, name)),
          type: name.endsWith('.css')
            ? 'text/css; charset=utf-8'
            : 'text/javascript; charset=utf-8',
        };
        vendorCache.set(name, asset);
      }
      return asset;
    },
  };
  return loaded;
}
