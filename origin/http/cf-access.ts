import type { MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { problem } from './problem.js';

/**
 * The optional second layer (tunnel/README.md): with Cloudflare Access in front of the tunnel,
 * every request that reaches the origin carries `Cf-Access-Jwt-Assertion`, a JWT signed by the
 * team's keys with the application's AUD tag. Verifying it here refuses a request that bypassed
 * Access (a misrouted ingress rule), whatever else it carries. Mounted only when configured.
 */
export type CfAccessOptions = {
  /** CF_ACCESS_TEAM_DOMAIN: `<team>.cloudflareaccess.com`. */
  teamDomain: string;
  /** CF_ACCESS_AUD: the application's AUD tag. */
  audience: string;
  /** Where the team's keys are; defaults to Cloudflare's URL (a test points it at its own server). */
  certsUrl?: string;
  /** Paths (and everything under them) that stay open to the private network's probes. */
  openPaths?: readonly string[];
  clockToleranceSec?: number;
};

const HEADER = 'Cf-Access-Jwt-Assertion';
/** Access JWTs are ~1 KB; anything far longer is refused unread. */
const MAX_LENGTH = 8192;

/**
 * @example
 *   if (env.CF_ACCESS_TEAM_DOMAIN && env.CF_ACCESS_AUD)
 *     app.use(cfAccess({ teamDomain: env.CF_ACCESS_TEAM_DOMAIN, audience: env.CF_ACCESS_AUD }));
 */
export function cfAccess(options: CfAccessOptions): MiddlewareHandler {
  if (!/^[a-z0-9-]+\.cloudflareaccess\.com$/i.test(options.teamDomain)) {
    throw new Error('CF_ACCESS_TEAM_DOMAIN must look like <team>.cloudflareaccess.com');
  }
  if (options.audience.length < 16)
    throw new Error('CF_ACCESS_AUD must be the application AUD tag');
  const issuer = `https://${options.teamDomain}`;
  // At module scope of this middleware: jose caches the keys and refetches on an unknown kid
  // (with its own cooldown), which is how Cloudflare's key rotation is followed.
  const keys = createRemoteJWKSet(new URL(options.certsUrl ?? `${issuer}/cdn-cgi/access/certs`));
  const open = options.openPaths ?? ['/health'];
  return async function cfAccessMiddleware(c, next) {
    const path = c.req.path;
    if (open.some((p) => path === p || path.startsWith(`${p}/`))) return next();
    const token = c.req.header(HEADER);
    const refuse = (detail: string) => {
      c.header('WWW-Authenticate', 'CloudflareAccess');
      return problem(c, 'unauthenticated', detail);
    };
    if (!token)
      return refuse(
        'the request did not come through Cloudflare Access (no Cf-Access-Jwt-Assertion)',
      );
    if (token.length > MAX_LENGTH) return refuse('the Cloudflare Access assertion is too long');
    try {
      await jwtVerify(token, keys, {
        issuer,
        audience: options.audience,
        algorithms: ['RS256'],
        clockTolerance: options.clockToleranceSec ?? 5,
      });
    } catch (error) {
      if (error instanceof errors.JWTExpired)
        return refuse('the Cloudflare Access assertion has expired');
      if (error instanceof errors.JOSEError)
        return refuse(`the Cloudflare Access assertion is not valid (${error.code})`);
      throw error;
    }
    return next();
  };
}
