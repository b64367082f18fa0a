import { createSecretKey, type KeyObject } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { errors, type JWTPayload, jwtVerify } from 'jose';
import { problem } from './problem.js';

/**
 * The edge → origin assertion (docs/edge-auth.md). The edge verifies the caller's token or API
 * key, then signs this short-lived JWT (HS256, EDGE_ASSERTION_SECRET shared by the Worker and the
 * origin) and sends it as `X-Edge-Assertion`. The origin trusts nothing else about who is calling.
 */
export const EDGE_ASSERTION_HEADER = 'X-Edge-Assertion';
export const EDGE_ASSERTION_ISSUER = 'estate-edge-worker';
export const EDGE_ASSERTION_AUDIENCE = 'estate-edge-origin';

/**
 * `edge` is the Worker speaking for itself (its API-key lookups at /v1/auth/introspect-key);
 * the others are the callers it verified.
 */
export const principalTypes = ['user', 'api_key', 'anonymous', 'edge'] as const;
export type PrincipalType = (typeof principalTypes)[number];

/** Who is calling, as the edge vouched for it. */
export type EdgePrincipal = {
  /** `user:1`, `api_key:3`, `anonymous` or `edge`. */
  id: string;
  type: PrincipalType;
  scopes: ReadonlySet<string>;
  plan: string;
  /** The edge's request id (the `rid` claim), the same as the X-Request-Id it sent. */
  requestId: string;
  /** CF-Connecting-IP as the edge saw it; signed, so it can be trusted here. */
  clientIp: string | null;
  /** For an API key, the user who owns it (`user:1`). */
  owner: string | null;
};

export type EdgeAssertionOptions = {
  /** EDGE_ASSERTION_SECRET: at least 32 bytes. */
  secret: string;
  /** Clock difference tolerated between the Worker and this host. */
  clockToleranceSec?: number;
  /**
   * false lets requests *without* an assertion through with no principal (a migration aid);
   * a present but invalid assertion is refused either way.
   */
  required?: boolean;
  /** Paths (and everything under them) served without an assertion. */
  openPaths?: readonly string[];
};

/**
 * An assertion is ~500 bytes. Anything far longer is refused before it is parsed, so a 100 KB
 * header costs nothing but the read.
 */
const MAX_ASSERTION_LENGTH = 4096;

/** The edge signs with exp = iat + 60 s; 90 s of age allows for the clock tolerance and transit. */
const MAX_TOKEN_AGE = '90s';

/**
 * Seen `jti`s until their `exp`. The edge never sends one assertion twice, so a second sighting
 * is a replay of a captured assertion (perhaps with another method or path): refused. A 60 s
 * lifetime bounds the set to the edge's request rate × 60 s; it is per process, which is fine:
 * it narrows a window that exp already closes, it is not what closes it.
 */
class SeenJtis {
  private readonly expiries = new Map<string, number>();
  constructor(private readonly maxEntries: number) {}

  /** Records `jti` until `exp` (seconds); false when it was already there and unexpired. */
  firstSighting(jti: string, exp: number, now: number): boolean {
    const known = this.expiries.get(jti);
    if (known !== undefined && known >= now) return false;
    if (this.expiries.size >= this.maxEntries) this.prune(now);
    this.expiries.set(jti, exp);
    return true;
  }

  private prune(now: number): void {
    for (const [jti, exp] of this.expiries) if (exp < now) this.expiries.delete(jti);
    // Still full of live entries: drop the oldest (Map keeps insertion order). Only the edge can
    // mint valid assertions, so this takes a traffic burst, not an attacker.
    for (const jti of this.expiries.keys()) {
      if (this.expiries.size < this.maxEntries) break;
      this.expiries.delete(jti);
    }
  }
}

/**
 * Context keys. The edge's principal has its own key, apart from `principal` (the routes' view of
 * the caller that authenticate() in http/principal.ts derives from it), so the two shapes never
 * overwrite each other. `edgeAssertionEnforced` is set on every request the middleware sees when
 * the assertion is required, open paths included, so authorization (http/principal.ts,
 * http/authz.ts) can tell "this app trusts only the edge" from "no edge in this setup (dev)".
 */
const PRINCIPAL_KEY = 'edgePrincipal';
const ENFORCED_KEY = 'edgeAssertionEnforced';

/**
 * Accept a request only with a valid edge assertion, and put the principal it carries on the
 * context (see edgePrincipalOf). Without one, or with one that does not
 * verify: 401 problem+json with `WWW-Authenticate: EdgeAssertion`, never a 500.
 *
 * Open by default: `/health` (liveness). Kubernetes/systemd/tunnel probes call it on the private
 * network, without going through the edge; it touches no data, so it has nothing to protect.
 * Readiness (`/health/ready`) sits under it and says only ok/degraded per dependency.
 *
 * @example
 *   app.use(edgeAssertion({ secret: env.EDGE_ASSERTION_SECRET }));
 */
export function edgeAssertion(options: EdgeAssertionOptions): MiddlewareHandler {
  const secretBytes = new TextEncoder().encode(options.secret);
  // Imported once: jose would import the raw bytes again on every request.
  const secretKey = createSecretKey(secretBytes);
  if (secretBytes.length < 32)
    throw new TypeError(
      'edgeAssertion: the secret (EDGE_ASSERTION_SECRET) needs at least 32 bytes',
    );
  const clockTolerance = options.clockToleranceSec ?? 5;
  if (!Number.isInteger(clockTolerance) || clockTolerance < 0 || clockTolerance > 60)
    throw new TypeError('edgeAssertion: clockToleranceSec must be an integer from 0 to 60');
  const required = options.required ?? true;
  const openPaths = options.openPaths ?? ['/health'];
  for (const path of openPaths)
    if (!path.startsWith('/') || path.endsWith('/'))
      throw new TypeError(`edgeAssertion: open path '${path}' must start and not end with /`);
  const seen = new SeenJtis(200_000);

  return async function edgeAssertionMiddleware(c, next) {
    if (required) c.set(ENFORCED_KEY as never, true as never);
    const path = c.req.path;
    if (openPaths.some((open) => path === open || path.startsWith(`${open}/`))) return next();

    const assertion = c.req.header(EDGE_ASSERTION_HEADER);
    if (!assertion) {
      if (!required) return next();
      return refuse(c, 'the request did not come through the edge (no edge assertion)');
    }
    const verified = await verifyAssertion(assertion, secretKey, clockTolerance);
    if (typeof verified === 'string') return refuse(c, verified);
    const { principal, jti, exp } = verified;
    if (!seen.firstSighting(jti, exp, Math.floor(Date.now() / 1000)))
      return refuse(c, 'the edge assertion was already used');
    c.set(PRINCIPAL_KEY as never, principal as never);
    await next();
  };
}

/** The principal the edge vouched for, or null when none (open path, or `required: false`). */
export function edgePrincipalOf(c: Context): EdgePrincipal | null {
  return (c.get(PRINCIPAL_KEY as never) as EdgePrincipal | undefined) ?? null;
}

/**
 * Whether this app admits only asserted requests (edgeAssertion with `required`, i.e. the app
 * was built with EDGE_ASSERTION_SECRET). True on open paths too, where there is no principal.
 */
export function edgeAssertionEnforced(c: Context): boolean {
  return c.get(ENFORCED_KEY as never) === true;
}

function refuse(c: Context, detail: string) {
  c.header('WWW-Authenticate', 'EdgeAssertion');
  return problem(c, 401, 'Unauthorized', detail);
}

type Verified = { principal: EdgePrincipal; jti: string; exp: number };

/** The principal, or a sentence saying why the assertion is refused (never the secret). */
async function verifyAssertion(
  assertion: string,
  secret: KeyObject,
  clockTolerance: number,
): Promise<Verified | string> {
  if (assertion.length > MAX_ASSERTION_LENGTH) return 'the edge assertion is too long';
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, secret, {
      // HS256 only: `none` and every asymmetric alg (whose "key" an attacker could choose) fail.
      algorithms: ['HS256'],
      issuer: EDGE_ASSERTION_ISSUER,
      audience: EDGE_ASSERTION_AUDIENCE,
      clockTolerance,
      maxTokenAge: MAX_TOKEN_AGE,
      requiredClaims: ['iat', 'exp', 'jti', 'sub', 'rid'],
    }));
  } catch (error) {
    return describeJoseError(error);
  }
  const claims = payload as JWTPayload & Record<string, unknown>;
  const { sub, jti, exp, principal_type, scope, plan, rid, cip, owner } = claims;
  if (
    typeof sub !== 'string' ||
    sub.length > 200 ||
    typeof jti !== 'string' ||
    jti.length > 200 ||
    typeof exp !== 'number' ||
    typeof principal_type !== 'string' ||
    !(principalTypes as readonly string[]).includes(principal_type) ||
    typeof scope !== 'string' ||
    typeof plan !== 'string' ||
    typeof rid !== 'string' ||
    (cip !== undefined && typeof cip !== 'string') ||
    (owner !== undefined && typeof owner !== 'string')
  )
    return 'the edge assertion has malformed claims';
  return {
    jti,
    exp,
    principal: {
      id: sub,
      type: principal_type as PrincipalType,
      scopes: new Set(scope.split(' ').filter(Boolean)),
      plan,
      requestId: rid,
      clientIp: cip || null,
      owner: owner ?? null,
    },
  };
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired)
    // jose reports maxTokenAge as an expired `iat`.
    return error.claim === 'iat'
      ? 'the edge assertion is too old (issued over 90 s ago)'
      : 'the edge assertion has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the edge assertion is for another audience';
    if (error.claim === 'iss') return 'the edge assertion has the wrong issuer';
    if (error.claim === 'iat') return 'the edge assertion is too old';
    return `the edge assertion's '${error.claim}' claim is invalid`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'the edge assertion has a bad signature';
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return 'the edge assertion uses an algorithm other than HS256';
  // JWSInvalid, JWTInvalid, and anything else jose throws on a malformed input.
  return 'the edge assertion is malformed';
}
