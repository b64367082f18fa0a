import type { MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import { secureHeaders } from 'hono/secure-headers';

/** For everything that is not the map viewer: JSON documents load nothing and are never framed. */
export const apiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'";

/**
 * Hono's `secureHeaders` (HSTS, nosniff, X-Frame-Options DENY, Referrer-Policy, COOP, CORP...)
 * plus a Content-Security-Policy for any answer that does not bring its own. The origin's map
 * viewer sends a CSP made for its page (its scripts, styles, workers and tiles); Hono's option
 * would overwrite it with ours, which blocks the viewer, so the CSP is set only where absent.
 *
 * @example
 *   app.use(securityHeaders());
 */
export function securityHeaders(): MiddlewareHandler {
  return every(
    secureHeaders({ xFrameOptions: 'DENY' }),
    async function contentSecurityPolicy(c, next) {
      await next();
      if (!c.res.headers.has('content-security-policy'))
        c.res.headers.set('Content-Security-Policy', apiContentSecurityPolicy);
    },
  );
}
