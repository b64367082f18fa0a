import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { createRouter } from '../../http/router.js';

type Asset = { body: string; type: string; etag: string };

/** Read once at start: three small files, served from memory. */
function asset(name: string, type: string): Asset {
  const body = readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, type, etag };
}

const page = asset('docs.html', 'text/html; charset=utf-8');
const script = asset('docs.js', 'text/javascript; charset=utf-8');
const styles = asset('docs.css', 'text/css; charset=utf-8');

/**
 * Only this origin, for everything: the page must work with no internet, and a strict policy
 * means a document that somehow carried markup could still not run script.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function serve(c: Context, { body, type, etag }: Asset) {
  // The files are not versioned in their URLs: revalidate each time, cheaply, by ETag.
  const headers = {
    'Content-Type': type,
    'Cache-Control': 'no-cache',
    ETag: etag,
    'Content-Security-Policy': CSP,
  };
  if (c.req.header('If-None-Match') === etag) return c.body(null, 304, headers);
  return c.body(body, 200, headers);
}

/**
 * GET /docs: a readable page for /openapi.json (paths, parameters, bodies, responses), in plain
 * JS with no CDN and no dependency. Kept out of the OpenAPI document itself: it is not API.
 */
export const docsRoutes = createRouter()
  .get('/', (c) => serve(c, page))
  .get('/docs.js', (c) => serve(c, script))
  .get('/docs.css', (c) => serve(c, styles));
