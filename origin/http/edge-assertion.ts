import { createSecretKey, type KeyObject } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { errors, type JWTPayload, jwtVerify } from 'jose';
import {
  bindingMismatch,
  bodyDigest,
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_CLOCK_TOLERANCE_SECONDS,
  EDGE_ASSERTION_HEADER,
  EDGE_ASSERTION_ISSUER,
  EDGE_ASSERTION_TTL_SECONDS,
  type PrincipalType,
  principalTypes,
  requestTarget,
  secretKeyId,
  unsafeMethods,
} from '../../contract/assertion.js';
import { problem } from './problem.js';
import type { ReplayGuard } from './replay-guard.js';

/**
 * The edge → origin assertion (contract/assertion.ts, docs/edge-auth.md). The edge verifies the
 * caller's token or API key, then signs this short-lived JWT (HS256, EDGE_ASSERTION_SECRET shared
 * by the Worker and the origin), bound to the request's method, path, query and body, and sends
 * it as `X-Edge-Assertion`. The origin trusts nothing else about who is calling.
 */
export {
  EDGE_ASSERTION_AUDIENCE,
  EDGE_ASSERTION_HEADER,
  EDGE_ASSERTION_ISSUER,
  type PrincipalType,
  principalTypes,
};

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
  /**
   * EDGE_ASSERTION_SECRET, then EDGE_ASSERTION_SECRET_PREVIOUS during a rotation: each at least
   * 32 bytes. An assertion names its secret by `kid` (contract/assertion.ts), so both are
   * accepted at once and a rotation has no window of 401s (docs/operations.md).
   */
  secrets: readonly string[];
  /**
   * Where write assertions' `jti`s are recorded so a replay is refused on every replica and
   * after a restart (http/replay-guard.ts; createApp passes the database's).
   */
  replayGuard: ReplayGuard;
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

/** The edge signs with exp = iat + TTL; the age allows for the clock tolerance as well. */
const MAX_TOKEN_AGE = `${EDGE_ASSERTION_TTL_SECONDS + EDGE_ASSERTION_CLOCK_TOLERANCE_SECONDS}s`;

/**
 * Seen `jti`s of reads until their `exp`, in this process. The edge never sends one assertion
 * twice, so a second sighting is a replay. For reads this narrows what the binding already makes
 * harmless (the same read, by the same principal, within 30 s); writes go through the shared
 * ReplayGuard instead, which holds across replicas and restarts.
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
 * Readiness (`/health/ready`) sits under it: the status to anyone, the details only to a probe
 * without an assertion or to a principal with `ops:read` (routes/health/audience.ts).
 *
 * @example
 *   app.use(edgeAssertion({ secret: env.EDGE_ASSERTION_SECRET }));
 */
export function edgeAssertion(options: EdgeAssertionOptions): MiddlewareHandler {
  if (options.secrets.length === 0 || options.secrets.length > 2)
    throw new TypeError('edgeAssertion: give one secret, or two during a rotation');
  for (const secret of options.secrets)
    if (new TextEncoder().encode(secret).length < 32)
      throw new TypeError(
        'edgeAssertion: the secret (EDGE_ASSERTION_SECRET) needs at least 32 bytes',
      );
  // Imported once, by key id: jose would import the raw bytes again on every request.
  const keys = Promise.all(
    options.secrets.map(async (secret) => ({
      kid: await secretKeyId(secret),
      key: createSecretKey(new TextEncoder().encode(secret)),
    })),
  ).then((list) => new Map(list.map(({ kid, key }) => [kid, key])));
  const clockTolerance = options.clockToleranceSec ?? EDGE_ASSERTION_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isInteger(clockTolerance) || clockTolerance < 0 || clockTolerance > 60)
    throw new TypeError('edgeAssertion: clockToleranceSec must be an integer from 0 to 60');
  const required = options.required ?? true;
  const openPaths = options.openPaths ?? ['/health'];
  for (const path of openPaths)
    if (!path.startsWith('/') || path.endsWith('/'))
      throw new TypeError(`edgeAssertion: open path '${path}' must start and not end with /`);
  const seen = new SeenJtis(200_000);

  /** The principal `assertion` vouches for on this request, or why it does not. */
  async function check(c: Context, assertion: string): Promise<EdgePrincipal | string> {
    const verified = await verifyAssertion(assertion, await keys, clockTolerance);
    if (typeof verified === 'string') return verified;
    const { principal, jti, exp, binding } = verified;
    const method = c.req.method;
    // The body is read here (bodyLimit, before this middleware, has capped it at 1 MiB) and
    // kept by Hono for the handler's own c.req.json().
    const digest = bodiless.has(method) ? undefined : await bodyDigest(await c.req.arrayBuffer());
    const mismatch = bindingMismatch(binding, {
      method,
      target: await requestTarget(c.req.url),
      digest,
    });
    if (mismatch) return mismatch;
    const first = unsafeMethods.has(method)
      ? await options.replayGuard.firstUse(jti, exp)
      : seen.firstSighting(jti, exp, Math.floor(Date.now() / 1000));
    if (!first) return 'the edge assertion was already used';
    return principal;
  }

  return async function edgeAssertionMiddleware(c, next) {
    if (required) c.set(ENFORCED_KEY as never, true as never);
    const path = c.req.path;
    const assertion = c.req.header(EDGE_ASSERTION_HEADER);
    if (openPaths.some((open) => path === open || path.startsWith(`${open}/`))) {
      // Open paths need no assertion, but one that verifies still names the caller, for the
      // routes that tell some callers more (readiness details for ops:read, routes/health). One
      // that does not (the edge's data-version refresh is bound to the client's request) is
      // ignored, never a 401: the path is open.
      if (assertion) {
        const checked = await check(c, assertion);
        if (typeof checked !== 'string') c.set(PRINCIPAL_KEY as never, checked as never);
      }
      return next();
    }

    if (!assertion) {
      if (!required) return next();
      return refuse(c, 'the request did not come through the edge (no edge assertion)');
    }
    const checked = await check(c, assertion);
    if (typeof checked === 'string') return refuse(c, checked);
    c.set(PRINCIPAL_KEY as never, checked as never);
    await next();
  };
}

/**
 * The principal the edge vouched for, or null when none (an open path reached without a valid
 * assertion, or `required: false`).
 */
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
  return problem(c, 'unauthenticated', detail);
}

type Verified = {
  principal: EdgePrincipal;
  jti: string;
  exp: number;
  binding: { htm: string; htu: string; bdy?: string };
};

/** Methods whose requests carry no body to digest. */
const bodiless = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The principal, or a sentence saying why the assertion is refused (never the secret). */
async function verifyAssertion(
  assertion: string,
  keys: ReadonlyMap<string, KeyObject>,
  clockTolerance: number,
): Promise<Verified | string> {
  if (assertion.length > MAX_ASSERTION_LENGTH) return 'the edge assertion is too long';
  let payload: JWTPayload;
  try {
    // The key its `kid` names: one of the current and the previous secret. An unknown kid gets
    // the current key, so it fails as a bad signature rather than as a special case.
    const keyFor = (header: { kid?: string | undefined }) =>
      keys.get(header.kid ?? '') ?? (keys.values().next().value as KeyObject);
    ({ payload } = await jwtVerify(assertion, keyFor, {
      // HS256 only: `none` and every asymmetric alg (whose "key" an attacker could choose) fail.
      algorithms: ['HS256'],
      issuer: EDGE_ASSERTION_ISSUER,
      audience: EDGE_ASSERTION_AUDIENCE,
      clockTolerance,
      maxTokenAge: MAX_TOKEN_AGE,
      requiredClaims: ['iat', 'exp', 'jti', 'sub', 'rid', 'htm', 'htu'],
    }));
  } catch (error) {
    return describeJoseError(error);
  }
  const claims = payload as JWTPayload & Record<string, unknown>;
  const { sub, jti, exp, principal_type, scope, plan, rid, cip, owner, htm, htu, bdy } = claims;
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
    (owner !== undefined && typeof owner !== 'string') ||
    typeof htm !== 'string' ||
    typeof htu !== 'string' ||
    (bdy !== undefined && typeof bdy !== 'string')
  )
    return 'the edge assertion has malformed claims';
  return {
    jti,
    exp,
    binding: { htm, htu, ...(bdy !== undefined ? { bdy } : {}) },
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
      ? `the edge assertion is too old (issued over ${MAX_TOKEN_AGE} ago)`
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
