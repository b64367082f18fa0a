import type { Context, Handler } from 'hono';
import { proxy } from 'hono/proxy';
import type { RequestIdVariables } from 'hono/request-id';
import * as z from 'zod/mini';
import { clientIp, configVar } from '../../lib/config';
import { type TraceVariables, traceOf } from '../../lib/trace';
import { edgeOnlyRequestHeaders, type OriginRequest } from '../origin-assertion';
import { ProblemType, problemResponse } from '../problem';
import {
  breakerFor,
  isBrokenCircuit,
  loadCockatiel,
  type OriginPolicy,
  originPolicySchema,
  retryPolicy,
  stateName,
  timeoutFor,
} from './policy';

type OriginProxyEnv = {
  Bindings: {
    ORIGIN_URL: string;
    /** JSON (a TOML table): timeouts, retries, breaker; see ./policy.ts. Defaults when unset. */
    ORIGIN_POLICY?: unknown;
  };
  Variables: RequestIdVariables & TraceVariables;
};

export type OriginProxyOptions<E extends OriginProxyEnv = OriginProxyEnv> = {
  /**
   * Overrides ORIGIN_POLICY (wrangler.toml) field by field; tests use it for short deadlines.
   */
  policy?: Partial<OriginPolicy>;
  /**
   * Headers the edge adds for the origin after the client's are copied: the signed edge
   * assertion and the Cloudflare Access service token (edge/index.ts passes them in). Whatever
   * the client sent under those names is dropped first, whether or not this is set.
   */
  originHeaders?: (c: Context<E>, request: OriginRequest) => Promise<Record<string, string>>;
};

/**
 * Methods forwarded to the origin. Anything else workerd can parse (TRACE, PROPFIND, PURGE,
 * SEARCH...) gets 501 here: TRACE would reflect credentials back to the caller, and the origin
 * implements none of the others. Unknown tokens such as FOO never reach the Worker.
 */
export const forwardedMethods = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

/** Methods that send no body to the origin. */
const bodiless = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Safe methods without a body: the only ones retried (replaying a POST could run it twice). */
const retriedMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export type ForwardOptions = {
  /**
   * A background refresh (stale-while-revalidate) outlives the client's request: it must not
   * be cancelled when the client hangs up.
   */
  detached?: boolean;
  /**
   * The method sent to the origin instead of the client's: a cache refresh started by a HEAD
   * fetches with GET, so what it stores has a body.
   */
  method?: 'GET';
};

export type OriginForwarder<E extends OriginProxyEnv> = {
  /** The route handler: `app.all('*', proxy.handler)`. */
  handler: Handler<E>;
  /** The same forwarding as a function, for the cache's background refreshes. */
  forward: (c: Context<E>, options?: ForwardOptions) => Promise<Response>;
};

/**
 * Forwards the request to `env.ORIGIN_URL` (through the Cloudflare Tunnel in production),
 * keeping method, path, query and body; hop-by-hop headers dropped both ways; `Host` the
 * origin's, `X-Forwarded-Host/-For/-Proto` the client's; the edge's request id propagated.
 *
 * Resilience, per ORIGIN_POLICY: a per-route deadline that aborts the upstream fetch (combined
 * with the client's own signal, so a client that hangs up cancels it too); retries with
 * jittered exponential backoff for GET/HEAD/OPTIONS on connection errors and 502/503/504; a
 * circuit breaker per isolate that, once open, answers 503 with Retry-After at once (the cache
 * in front then serves stale copies where it has them). Retries and the breaker are cockatiel's.
 * Unreachable answers 502, too slow 504, open circuit 503, all problem+json.
 *
 * @example
 *   const origin = originProxy({ originHeaders });
 *   app.all('*', origin.handler);
 */
export function originProxy<E extends OriginProxyEnv = OriginProxyEnv>(
  options: OriginProxyOptions<E> = {},
): OriginForwarder<E> {
  if (options.policy) z.partial(originPolicySchema).parse(options.policy);

  async function forward(c: Context<E>, forwardOptions: ForwardOptions = {}): Promise<Response> {
    const method = forwardOptions.method ?? c.req.method;
    const policy = {
      ...configVar('ORIGIN_POLICY', c.env.ORIGIN_POLICY ?? {}, originPolicySchema),
      ...options.policy,
    };
    const target = originTarget(c.env.ORIGIN_URL, new URL(c.req.url));
    const requestId = c.get('requestId');
    const trace = traceOf(c);
    // The body is read once (bodyLimit has capped it at 1 MiB): the assertion carries its digest,
    // and the same bytes go to the origin on every attempt.
    const body = bodiless.has(method) ? null : await c.req.arrayBuffer();
    const bound: OriginRequest = { method, url: target, body };
    // Before the try: a signing failure (a missing secret) is the edge's 500, not a 502.
    const headers = forwardedHeaders(c.req.raw, requestId, await options.originHeaders?.(c, bound));
    const timeoutMs = timeoutFor(policy, c.req.path);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = forwardOptions.detached
      ? deadline
      : AbortSignal.any([c.req.raw.signal, deadline]);
    const lib = await loadCockatiel();
    const breaker = breakerFor(lib, c.env.ORIGIN_URL, policy);
    const started = performance.now();
    let attempts = 0;
    const attempt = () =>
      breaker.policy.execute(async () => {
        attempts += 1;
        // Every attempt signs afresh: the origin refuses an assertion it has seen (its jti), so a
        // retry that resent the first one would turn a 503 into a 401 (found by the reliability
        // suite during a database restart).
        const attemptHeaders =
          attempts === 1
            ? headers
            : forwardedHeaders(c.req.raw, requestId, await options.originHeaders?.(c, bound));
        return proxy(target, {
          raw: c.req.raw,
          method,
          headers: attemptHeaders,
          signal,
          // The buffered bytes (a stream could be sent only once); none for GET/HEAD.
          body,
        });
      });
    try {
      const res = await (retriedMethods.has(method) && policy.retries > 0
        ? retryPolicy(lib, policy).execute(attempt, signal)
        : attempt());
      trace.originStatus = res.status;
      // A background refresh's answer goes to the cache, not to the client: it must not pick up
      // the headers of the response already sent (CORS's Vary: Origin would make it unstorable).
      if (forwardOptions.detached) return new Response(res.body, res);
      // Through c.newResponse so headers set earlier with c.header() (X-Request-Id) survive.
      return c.newResponse(res.body, res);
    } catch (err) {
      trace.originStatus = 0;
      const reason = isBrokenCircuit(err) ? 'open' : deadline.aborted ? 'timeout' : 'unreachable';
      if (reason === 'open') {
        const retryAfter = Math.max(
          1,
          Math.ceil((breaker.openedAt + breaker.cooldownMs - Date.now()) / 1000),
        );
        return problemResponse(c, {
          code: 'origin_unavailable',
          detail: `The origin server is failing; requests are paused for ${retryAfter} s to let it recover.`,
          headers: { 'Retry-After': String(retryAfter) },
        });
      }
      console.error(
        JSON.stringify({
          level: 'error',
          msg: reason === 'timeout' ? 'origin timed out' : 'origin unreachable',
          request_id: requestId,
          method,
          path: c.req.path,
          attempts,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
      // The detail stays generic on purpose: the origin's address is not the client's business.
      return reason === 'timeout'
        ? problemResponse(c, {
            code: 'origin_timeout',
            detail: `The origin server did not answer within ${timeoutMs} ms.`,
          })
        : problemResponse(c, {
            code: 'origin_unreachable',
            detail: 'The origin server could not be reached. Try again shortly.',
            headers: { 'Retry-After': '5' },
          });
    } finally {
      trace.originMs = Math.round((performance.now() - started) * 10) / 10;
      trace.originAttempts = attempts;
      trace.breaker = stateName(breaker.policy.state);
    }
  }

  async function originProxy(c: Context<E>): Promise<Response> {
    const method = c.req.method;
    if (!forwardedMethods.has(method)) {
      return problemResponse(c, {
        status: 501,
        detail: `The method ${method} is not supported.`,
        headers: { Allow: [...forwardedMethods].join(', ') },
      });
    }
    return forward(c);
  }

  return { handler: originProxy, forward };
}

/**
 * RFC 9110 §7.6.1 hop-by-hop headers. `hono/proxy` strips these only from the headers it copies
 * itself; once we pass our own `headers` it forwards them verbatim, so we strip them here.
 * Names listed in the client's `Connection` header are deliberately *not* stripped: honouring
 * them would let a client delete `X-Request-Id` or any other header on its way to the origin.
 */
const hopByHopHeaders = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/** The client's headers, minus hop-by-hop and edge-only ones, plus the edge's own. */
function forwardedHeaders(
  request: Request,
  requestId: string,
  originHeaders: Record<string, string> = {},
): Headers {
  const headers = new Headers(request.headers);
  for (const name of hopByHopHeaders) headers.delete(name);
  // A client must never speak for the edge: its X-Edge-Assertion (or Access headers) go.
  for (const name of edgeOnlyRequestHeaders) headers.delete(name);
  for (const [name, value] of Object.entries(originHeaders)) headers.set(name, value);
  // Host must name the origin (the tunnel routes on it); the client's host travels on.
  const url = new URL(request.url);
  headers.set('x-forwarded-host', headers.get('host') ?? url.host);
  headers.set('x-forwarded-proto', url.protocol.replace(':', ''));
  const ip = clientIp(request.headers);
  if (ip !== 'unknown') headers.set('x-forwarded-for', ip);
  headers.delete('host');
  headers.set('x-request-id', requestId);
  return headers;
}

/**
 * Joins the origin base URL and the request's path and query by string, never with
 * `new URL(path, base)`: a path like `//evil.example/x` would otherwise be read as a
 * protocol-relative URL and send the request (and its credentials) to another host.
 */
export function originTarget(originUrl: string, requestUrl: URL): string {
  let base: URL;
  try {
    base = new URL(originUrl);
  } catch {
    throw new Error(`ORIGIN_URL is not a URL: ${JSON.stringify(originUrl)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new Error(`ORIGIN_URL must be http(s), got ${base.protocol}`);
  }
  const basePath = base.pathname.replace(/\/+$/, '');
  return `${base.origin}${basePath}${requestUrl.pathname}${requestUrl.search}`;
}
