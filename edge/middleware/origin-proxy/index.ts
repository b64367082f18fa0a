import type { Context, Handler } from 'hono';
import { proxy } from 'hono/proxy';
import type { RequestIdVariables } from 'hono/request-id';
import { edgeOnlyRequestHeaders } from '../origin-assertion';
import { ProblemType, problemResponse } from '../problem';

type OriginProxyEnv = {
  Bindings: { ORIGIN_URL: string };
  Variables: RequestIdVariables;
};

export type OriginProxyOptions<E extends OriginProxyEnv = OriginProxyEnv> = {
  /**
   * How long the origin may take to send response *headers*. The body then streams without a
   * deadline, so large exports are not cut off. Default 30 s: well inside Cloudflare's 100 s
   * proxy limit, which would otherwise answer with an opaque 524 HTML page.
   */
  headersTimeoutMs?: number;
  /**
   * Headers the edge adds for the origin after the client's are copied: the signed edge
   * assertion and the Cloudflare Access service token (edge/index.ts passes them in). Whatever
   * the client sent under those names is dropped first, whether or not this is set.
   */
  originHeaders?: (c: Context<E>) => Promise<Record<string, string>>;
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

/**
 * Forwards the request to `env.ORIGIN_URL`, keeping method, path, query and body, replacing
 * `X-Request-Id` with the edge's id and dropping hop-by-hop headers in both directions.
 * An origin that cannot be reached answers 502, one that is too slow 504, both problem+json.
 *
 * @example
 * app.all('*', originProxy({ headersTimeoutMs: 30_000 }));
 */
export function originProxy<E extends OriginProxyEnv = OriginProxyEnv>(
  options: OriginProxyOptions<E> = {},
): Handler<E> {
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  if (!Number.isInteger(headersTimeoutMs) || headersTimeoutMs <= 0) {
    throw new TypeError(
      `originProxy: headersTimeoutMs must be a positive integer, got ${headersTimeoutMs}`,
    );
  }

  return async function originProxy(c) {
    const method = c.req.method;
    if (!forwardedMethods.has(method)) {
      return problemResponse(c, {
        status: 501,
        detail: `The method ${method} is not supported.`,
        headers: { Allow: [...forwardedMethods].join(', ') },
      });
    }

    const target = originTarget(c.env.ORIGIN_URL, new URL(c.req.url));
    const requestId = c.get('requestId');
    // Before the try: a signing failure (a missing secret) is the edge's 500, not a 502.
    const headers = forwardedHeaders(c.req.raw, requestId, await options.originHeaders?.(c));
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), headersTimeoutMs);
    try {
      const res = await proxy(target, {
        raw: c.req.raw,
        headers,
        // A client that hangs up also cancels the origin request.
        signal: AbortSignal.any([c.req.raw.signal, timeout.signal]),
      });
      // Through c.newResponse so headers set earlier with c.header() (X-Request-Id) survive.
      return c.newResponse(res.body, res);
    } catch (err) {
      const timedOut = timeout.signal.aborted;
      console.error(
        JSON.stringify({
          level: 'error',
          msg: timedOut ? 'origin timed out' : 'origin unreachable',
          request_id: requestId,
          method,
          path: c.req.path,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
      // The detail stays generic on purpose: the origin's address is not the client's business.
      return timedOut
        ? problemResponse(c, {
            status: 504,
            type: ProblemType.originTimeout,
            detail: `The origin server did not answer within ${headersTimeoutMs} ms.`,
          })
        : problemResponse(c, {
            status: 502,
            type: ProblemType.originUnreachable,
            detail: 'The origin server could not be reached. Try again shortly.',
          });
    } finally {
      clearTimeout(timer);
    }
  };
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
  headers.set('x-forwarded-host', headers.get('host') ?? new URL(request.url).host);
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
