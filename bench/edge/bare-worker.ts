/**
 * The limit of the edge benchmark (bench/edge/main.ts): a bare Hono Worker that answers every GET with
 * a constant, the same bytes the real Worker serves from its cache (the `BODY` var), so the two
 * differ only by what the gateway does per request. Built with `wrangler deploy --dry-run` like
 * the real Worker, served by workerd.
 *
 * Knobs for the diagnosis (vars, "1" to turn on), each adding one thing the real Worker does on a
 * cache hit, so its cost can be measured alone:
 * - `BENCH_STACK`: Hono's own middleware as edge/index.ts uses them (request id, timing, secure
 *   headers, CORS, body limit); `"expose"`: with CORS's `exposeHeaders` too, as edge/index.ts sets
 *   it (Hono's cors then touches `c.res` before the handler runs);
 * - `BENCH_LOG`: one JSON line of the access log's size through `console.log`;
 * - `BENCH_CACHE`: the answer comes out of the Cache API (`caches.default.match`) instead;
 * - `BENCH_BURST`: one call of the `BURST_LIMITER` rate-limit binding.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { every } from 'hono/combine';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { timing } from 'hono/timing';

/** The parts of the Workers runtime used here (the root tsconfig has Node's types, not workerd's). */
type EdgeCache = {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
};
type Bindings = {
  BODY: string;
  BENCH_STACK?: string;
  BENCH_LOG?: string;
  BENCH_CACHE?: string;
  BENCH_BURST?: string;
  BURST_LIMITER?: { limit(options: { key: string }): Promise<{ success: boolean }> };
};

const CACHE_KEY = 'https://edge-bench.internal/constant';
const app = new Hono<{ Bindings: Bindings }>();

const stackWith = (exposeHeaders: string[]) =>
  every(
    requestId({ limitLength: 128 }),
    timing({ crossOrigin: false }),
    secureHeaders({ xFrameOptions: 'DENY' }),
    cors({ origin: (o) => (o === 'http://127.0.0.1:8787' ? o : null), exposeHeaders }),
    bodyLimit({ maxSize: 1024 * 1024 }),
  );
const stack = stackWith([]);
// The same list as edge/index.ts exposes (its length is what matters, not the names).
const exposing = stackWith(['X-Request-Id', 'X-Cache', 'Age', 'Server-Timing', 'Retry-After']);
app.use(async function maybeStack(c, next) {
  if (c.env.BENCH_STACK === '1') return stack(c, next);
  if (c.env.BENCH_STACK === 'expose') return exposing(c, next);
  await next();
});

app.get('*', async function constant(c) {
  const started = performance.now();
  if (c.env.BENCH_BURST === '1' && c.env.BURST_LIMITER) {
    const { success } = await c.env.BURST_LIMITER.limit({ key: 'ip:bench' });
    if (!success) return c.text('burst', 429);
  }
  let res: Response;
  if (c.env.BENCH_CACHE === '1') {
    const cache = (globalThis as unknown as { caches: { default: EdgeCache } }).caches.default;
    let stored = await cache.match(CACHE_KEY);
    if (!stored) {
      await cache.put(
        CACHE_KEY,
        new Response(c.env.BODY, {
          headers: { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=86400' },
        }),
      );
      stored = await cache.match(CACHE_KEY);
    }
    if (!stored) return c.text('the Cache API stored nothing', 500);
    res = new Response(stored.body, stored);
  } else {
    res = new Response(c.env.BODY, { headers: { 'Content-Type': 'application/json' } });
  }
  if (c.env.BENCH_LOG === '1')
    // The same fields as edge/middleware/access-log, so the line costs what the real one does.
    console.log(
      JSON.stringify({
        level: 'info',
        msg: 'request',
        request_id: crypto.randomUUID(),
        method: c.req.method,
        route: c.req.path,
        status: res.status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        cache: 'HIT',
        rate_limit: 'off',
        principal: 'anonymous',
        origin_status: null,
        origin_ms: null,
        origin_attempts: null,
        breaker: null,
      }),
    );
  return res;
});

export default app;
