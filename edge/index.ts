import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { timing } from 'hono/timing';
import type { AppEnv, Env } from './env';
import { checkSecrets, type SecretProblem } from './lib/secrets';
import { checkSettings, describeProblems } from './lib/settings';
import { accessLog } from './middleware/access-log';
import { authenticate } from './middleware/auth';
import { burstGuard, burstGuardCounters } from './middleware/burst-guard';
import { edgeCache } from './middleware/edge-cache';
import { httpsRedirect } from './middleware/https-redirect';
import { type OriginRequest, originCredentials } from './middleware/origin-assertion';
import { originProxy, originTarget } from './middleware/origin-proxy';
import { breakerSnapshot } from './middleware/origin-proxy/policy';
import { problemErrorHandler, problemResponse } from './middleware/problem';
import { rateLimit, rateLimitCounters } from './middleware/rate-limit';
import { requestSize } from './middleware/request-size';
import { securityHeaders } from './middleware/security-headers';
import { settingsGate } from './middleware/settings-gate';
import { scheduled } from './scheduled';
import { statusJson, statusPage } from './status';

const app = new Hono<AppEnv>();

// --- Every request, in this order (docs/edge-gateway.md)
// Client-sent ids are kept when they are short and plain (Hono checks the charset) so a caller
// can follow one request through its own logs, the edge's and the origin's.
app.use(requestId({ limitLength: 128 }));
// Outermost after the id: the log line and Server-Timing cover everything below.
app.use(timing({ crossOrigin: false }), accessLog());
// The vars, parsed once per isolate by one schema (lib/settings.ts): while one is invalid, every
// request but the health check gets a 503 naming it, never a permissive default.
app.use(settingsGate({ exempt: ['/edge/health'] }));
app.use(httpsRedirect(), securityHeaders());
const corsHeaders = cors({
  origin: (origin, c) => {
    // Checked, not assumed: /edge/health passes the settings gate even when they are invalid.
    const check = checkSettings(c.env);
    return check.ok && check.settings.CORS_ORIGINS.includes(origin) ? origin : null;
  },
  allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  allowHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'X-Request-Id', 'If-None-Match'],
  exposeHeaders: [
    'X-Request-Id',
    'X-Cache',
    'Age',
    'Server-Timing',
    'Retry-After',
    'ETag',
    'Warning',
    'RateLimit-Limit',
    'RateLimit-Remaining',
    'RateLimit-Reset',
    'RateLimit-Policy',
    'X-Tile-Truncated',
  ],
  maxAge: 600,
});
// Hono's cors only for requests that carry an Origin (browsers' cross-origin ones) or are a
// preflight: on the others it would still write Access-Control-Expose-Headers, building the
// response before the handler runs, which makes every later Response a copy (a quarter of a
// cache HIT's time, docs/benchmarks.md). Every answer still says it varies by Origin.
app.use((c, next) => {
  if (c.req.header('origin') !== undefined || c.req.method === 'OPTIONS')
    return corsHeaders(c, next);
  return next().then(() => {
    c.header('Vary', 'Origin', { append: true });
  });
});
// URLs over 8 KiB (414) and headers over 16 KiB (431), answered here in problem+json: the
// origin's HTTP parser would answer them with a bare status and no body.
app.use(requestSize());
// The origin refuses bodies over 1 MiB too; refusing here saves the trip through the tunnel.
app.use(
  bodyLimit({
    maxSize: 1024 * 1024,
    onError: (c) => problemResponse(c, { status: 413, detail: 'The request body is over 1 MiB.' }),
  }),
);

// --- Answered by the edge itself
app.get('/edge/health', (c) => {
  c.header('Cache-Control', 'no-store');
  const check = checkSettings(c.env);
  // Names the bad vars and secrets and what they must hold, never their values (the 503s say the
  // same). A missing secret is checked here because the platform does not: a deploy without
  // EDGE_ASSERTION_SECRET used to answer ok while every forwarded request failed (issue 14).
  const problems: SecretProblem[] = check.ok
    ? checkSecrets(c.env, check.settings)
    : check.problems.map((p) => ({ ...p, level: 'error' }));
  const errors = problems.filter((p) => p.level === 'error');
  const warnings = problems.filter((p) => p.level === 'warning');
  const strip = ({ variable, problem }: SecretProblem) => ({ variable, problem });
  if (!check.ok || errors.length > 0)
    return problemResponse(c, {
      code: 'misconfigured',
      detail: `This deployment is misconfigured: ${describeProblems(errors)}.`,
      headers: { 'Cache-Control': 'no-store' },
      extensions: {
        environment: String(c.env.ENVIRONMENT),
        problems: errors.map(strip),
        warnings: warnings.map(strip),
      },
    });
  return c.json({
    status: 'ok',
    environment: check.settings.ENVIRONMENT,
    quota_store: c.env.UPSTASH_REDIS_REST_URL ? 'upstash' : 'none',
    rate_limit_fail_mode: check.settings.RATE_LIMIT_FAIL_MODE,
    // What works but is worth knowing: an alert channel missing outside production.
    warnings: warnings.map(strip),
    // Since this isolate started: how often quotas were skipped or hit, the breakers' states.
    isolate: {
      rate_limits: { ...rateLimitCounters, burst: burstGuardCounters.refused },
      origin_breakers: breakerSnapshot(),
    },
  });
});

// --- The public status page, from the monitoring history alone: it answers when the origin is
// down, so it sits before authentication (docs/monitoring.md)
app.get('/status', statusPage);
app.get('/status.json', statusJson);

// --- Everything else goes to the origin, as someone (docs/edge-auth.md)
// Bound to the request it goes with (contract/assertion.ts): the proxy passes its target and
// body; without one, the client's own request as a GET (the cache's refreshes).
const headersForOrigin = (c: Context<AppEnv>, request?: OriginRequest) =>
  originCredentials(
    c.env,
    {
      principal: c.get('principal'),
      requestId: c.get('requestId'),
      clientIp: c.req.header('CF-Connecting-IP') ?? null,
    },
    request ?? { method: 'GET', url: originTarget(c.env.ORIGIN_URL, new URL(c.req.url)) },
  );
// Signs the principal into the X-Edge-Assertion the origin requires.
const origin = originProxy<AppEnv>({ originHeaders: headersForOrigin });
// Per client IP, before any credential is looked at: guessing keys costs the guesser, not the
// origin's database (issue 13, finding 6).
app.use(burstGuard());
// Verifies the token or API key and the route's scope, and puts the principal on the context.
app.use(authenticate());
app.use(rateLimit());
app.use(
  edgeCache<AppEnv>({
    // Always a GET (the cache says so): a refresh started by a HEAD must store a body.
    revalidate: (c, { method }) => origin.forward(c, { detached: true, method }),
    originHeaders: headersForOrigin,
  }),
);
app.all('*', origin.handler);

app.onError(problemErrorHandler());

// Cron Triggers ([triggers] in wrangler.toml) run the jobs CRON_JOBS names (edge/scheduled).
export default { fetch: app.fetch, scheduled } satisfies ExportedHandler<Env>;
