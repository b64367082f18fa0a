import type { MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { problemResponse } from '../problem';

export type HttpsRedirectOptions = {
  /** Hosts served over plain HTTP: local development (`wrangler dev`, tests). */
  plainHttpHosts?: readonly string[];
};

/**
 * Plain-HTTP requests are sent to HTTPS: GET and HEAD with a 308 to the same URL, anything else
 * refused with 400 (its body and credentials already crossed the network in clear; redirecting
 * would invite the client to send them twice). Hand-written: Hono has no such middleware, and
 * Cloudflare's "Always Use HTTPS" does not apply to a workers.dev route or a local run.
 *
 * @example
 *   app.use(httpsRedirect({ plainHttpHosts: ['127.0.0.1', 'localhost'] }));
 */
export function httpsRedirect(
  options: HttpsRedirectOptions = {},
): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  const plain = new Set(options.plainHttpHosts ?? ['127.0.0.1', 'localhost', '[::1]']);
  return async function httpsRedirect(c, next) {
    const url = new URL(c.req.url);
    if (url.protocol === 'https:' || plain.has(url.hostname)) return next();
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      url.protocol = 'https:';
      url.port = '';
      return c.redirect(url.toString(), 308);
    }
    return problemResponse(c, {
      status: 400,
      detail: 'This API is served over HTTPS only. Send the request to the https:// address.',
    });
  };
}
