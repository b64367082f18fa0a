import * as z from 'zod/mini';

/**
 * CORS_ORIGINS in wrangler.toml: the exact origins (scheme, host, port) whose pages may call the
 * API from a browser. No wildcard: the API takes credentials in headers, and an allow-list says
 * which sites an operator vouches for.
 */
export const corsOriginsSchema = z
  .array(
    z
      .url({ protocol: /^https?$/ })
      .check(
        z.refine(
          (o) => new URL(o).origin === o,
          'must be an origin: scheme://host[:port], no path',
        ),
      ),
  )
  .check(z.maxLength(100));
