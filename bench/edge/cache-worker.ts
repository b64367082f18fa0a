/**
 * A stand-in for Cloudflare's cache behind the Cache API, for Workers the edge benchmark serves with
 * `workerd serve` (bench/edge/workerd.ts names it as their `cacheApiOutbound`). Cloudflare's
 * cache cannot run here; Miniflare's (a Durable Object over SQLite and blob files) costs several
 * times what the gateway does per hit, which would measure Miniflare rather than the gateway.
 *
 * workerd speaks to it as Miniflare's cache service expects (node_modules/miniflare's
 * workers/cache): `GET <key>` answers the stored response with `CF-Cache-Status: HIT`, or 504 with
 * `CF-Cache-Status: MISS`; `PUT <key>` carries the response serialised as HTTP/1.1 and answers 204
 * (413 when it may not be stored); `PURGE <key>` deletes it. In memory, per isolate, bounded; the
 * freshness is the response's `s-maxage` or `max-age`, nothing else of HTTP caching.
 */

type Stored = { status: number; headers: [string, string][]; body: Uint8Array; expires: number };

/** Enough for every key of a benchmark run; the oldest go first beyond it. */
const MAX_ENTRIES = 50_000;
const store = new Map<string, Stored>();

const miss = () => new Response(null, { status: 504, headers: { 'CF-Cache-Status': 'MISS' } });

/** `HTTP/1.1 200 OK\r\nName: value\r\n…\r\n\r\n<body>` → its parts; undefined when malformed. */
function parseHttpResponse(raw: Uint8Array): Omit<Stored, 'expires'> | undefined {
  let end = -1;
  for (let i = 0; i + 3 < raw.length; i++)
    if (raw[i] === 13 && raw[i + 1] === 10 && raw[i + 2] === 13 && raw[i + 3] === 10) {
      end = i;
      break;
    }
  if (end < 0) return undefined;
  const [statusLine, ...lines] = new TextDecoder().decode(raw.subarray(0, end)).split('\r\n');
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
  return { status, headers, body: raw.slice(end + 4) };
}

function freshnessSeconds(headers: [string, string][]): number {
  const cacheControl = headers.find(([name]) => name.toLowerCase() === 'cache-control')?.[1] ?? '';
  if (/\b(no-store|private)\b/i.test(cacheControl)) return 0;
  const age = /\bs-maxage=(\d+)/i.exec(cacheControl) ?? /\bmax-age=(\d+)/i.exec(cacheControl);
  return age ? Number(age[1]) : 0;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const key = request.url;
    switch (request.method) {
      case 'GET': {
        const hit = store.get(key);
        if (!hit || hit.expires <= Date.now()) {
          store.delete(key);
          return miss();
        }
        const headers = new Headers(hit.headers);
        headers.set('CF-Cache-Status', 'HIT');
        return new Response(hit.body, { status: hit.status, headers });
      }
      case 'PUT': {
        const parsed = parseHttpResponse(new Uint8Array(await request.arrayBuffer()));
        const seconds = parsed ? freshnessSeconds(parsed.headers) : 0;
        if (!parsed || seconds <= 0) return new Response(null, { status: 413 });
        store.delete(key);
        store.set(key, { ...parsed, expires: Date.now() + seconds * 1000 });
        if (store.size > MAX_ENTRIES) store.delete(store.keys().next().value as string);
        return new Response(null, { status: 204 });
      }
      case 'PURGE':
        return new Response(null, { status: store.delete(key) ? 200 : 404 });
      default:
        return new Response(null, { status: 405 });
    }
  },
};
