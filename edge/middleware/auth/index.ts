import type { Context, MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { hasScope, type Scope } from '../../../contract/scopes';
import { settingsOf } from '../../lib/settings';
import { forwardedMethods } from '../origin-proxy';
import { problemResponse } from '../problem';
import { type AccessTokenEnv, verifyAccessToken } from './access-token';
import { type ApiKeyLookupEnv, looksLikeApiKey, lookupApiKey } from './api-key';
import { anonymousPrincipal, type Principal } from './principal';
import { routePolicy } from './route-policy';

export type { Principal } from './principal';

/**
 * The vars (wrangler.toml) and secrets (edge/env.ts) this middleware reads. ANONYMOUS_ACCESS
 * (`"true"` or `"false"`, exactly) and API_KEY_CACHE_TTL (seconds an API key's lookup is cached:
 * the bound on how long a revoked key still works) are read through settingsOf
 * (lib/settings.ts), parsed once per isolate: a typo is refused there, never read as "on".
 */
export type AuthBindings = AccessTokenEnv &
  ApiKeyLookupEnv & {
    ANONYMOUS_ACCESS?: string;
    API_KEY_CACHE_TTL?: string;
  };

export type AuthVariables = RequestIdVariables & { principal: Principal };

type AuthEnv = { Bindings: AuthBindings; Variables: AuthVariables };

export type AuthenticateOptions = {
  /** RFC 6750 realm named in WWW-Authenticate. */
  realm?: string;
};

/** Query parameters that would carry a credential in the URL, where logs and Referer leak it. */
// Not `key` or `token`: too generic, a future filter could legitimately use them.
const credentialParams = ['access_token', 'api_key', 'apikey'];

/**
 * Who is calling, checked at the edge: `Authorization: Bearer <JWT>` (verified against the
 * origin's JWKS), `Authorization: Bearer ee_...` or `X-API-Key: ee_...` (looked up at the origin,
 * cached), or nobody (the anonymous principal, when ANONYMOUS_ACCESS allows). Then the route's
 * scope (route-policy.ts). Puts the principal on the context for the proxy to sign into the
 * edge assertion. Answers: 400 for a credential in the query string, 401 with WWW-Authenticate
 * for missing or bad credentials, 403 for a missing scope, 503 when the origin cannot say.
 *
 * @example
 *   app.use(authenticate());
 */
export function authenticate(options: AuthenticateOptions = {}): MiddlewareHandler<AuthEnv> {
  const realm = options.realm ?? 'estate-edge';
  if (!/^[\w.-]+$/.test(realm)) throw new TypeError(`authenticate: malformed realm '${realm}'`);

  return async function authenticate(c, next) {
    // The proxy answers methods it does not forward with 501; there is nothing to authorize.
    if (!forwardedMethods.has(c.req.method)) return next();

    const url = new URL(c.req.url);
    const leaked = credentialParams.find((name) => url.searchParams.has(name));
    if (leaked)
      return problemResponse(c, {
        status: 400,
        detail: `Credentials are not accepted in the query string ('${leaked}'): URLs end up in logs. Send them in the Authorization header.`,
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_request"` },
      });

    const policy = routePolicy(c.req.method, c.req.path);
    if (policy.kind === 'internal')
      return problemResponse(c, { status: 404, detail: 'There is nothing here.' });

    const credential = credentialOf(c);
    if (credential.kind === 'conflict')
      return problemResponse(c, {
        status: 400,
        detail: 'Send one credential: either Authorization or X-API-Key, not both.',
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_request"` },
      });

    const settings = settingsOf(c.env);
    let principal: Principal;
    if (credential.kind === 'none') {
      const anonymousAllowed = settings.ANONYMOUS_ACCESS;
      if (!anonymousAllowed && policy.kind !== 'open')
        return unauthorized(c, realm, 'This API needs a token or an API key.', true);
      principal = anonymousPrincipal(anonymousAllowed);
    } else {
      const verdict =
        credential.kind === 'api_key'
          ? await lookupApiKey(c.env, credential.value, {
              ttlSeconds: settings.API_KEY_CACHE_TTL,
              requestId: c.get('requestId'),
              clientIp: c.req.header('CF-Connecting-IP') ?? null,
              // The credentials epoch is refreshed in the background (edge-cache/data-version.ts).
              waitUntil: (p) => c.executionCtx.waitUntil(p),
            })
          : await verifyAccessToken(c.env, credential.value);
      if (verdict.status === 'unavailable')
        return problemResponse(c, {
          status: 503,
          detail: 'Credentials cannot be checked right now. Try again shortly.',
          headers: { 'Retry-After': '5' },
        });
      if (verdict.status === 'invalid') return unauthorized(c, realm, verdict.reason);
      principal = verdict.principal;
    }

    if (policy.kind === 'scope' && !policy.anyOf.some((s: Scope) => hasScope(principal.scopes, s)))
      return principal.type === 'anonymous'
        ? unauthorized(c, realm, `This needs a token or API key with ${oneOf(policy.anyOf)}.`, true)
        : forbidden(c, realm, `This needs ${oneOf(policy.anyOf)}.`, policy.anyOf);
    if (policy.kind === 'deny')
      return principal.type === 'anonymous'
        ? unauthorized(c, realm, 'This needs a token or an API key.', true)
        : forbidden(c, realm, `No scope allows ${c.req.method} on this path.`, []);

    c.set('principal', principal);
    await next();
  };
}

type Credential =
  | { kind: 'none' }
  | { kind: 'conflict' }
  | { kind: 'api_key' | 'jwt'; value: string };

function credentialOf(c: Context): Credential {
  const authorization = c.req.header('Authorization');
  const apiKey = c.req.header('X-API-Key');
  if (authorization !== undefined && apiKey !== undefined) return { kind: 'conflict' };
  if (apiKey !== undefined) return { kind: 'api_key', value: apiKey.trim() };
  if (authorization === undefined) return { kind: 'none' };
  // Any other scheme (Basic...) or an empty bearer is a bad credential, not "no credential":
  // a client that meant to authenticate must hear that it failed, not be served as anonymous.
  const bearer = /^Bearer +(\S+) *$/i.exec(authorization)?.[1] ?? '';
  if (looksLikeApiKey(bearer)) return { kind: 'api_key', value: bearer };
  return { kind: 'jwt', value: bearer };
}

function oneOf(scopes: readonly string[]): string {
  return scopes.length === 1
    ? `the scope '${scopes[0]}'`
    : `one of the scopes ${scopes.map((s) => `'${s}'`).join(', ')}`;
}

/** RFC 6750 §3: the description is a quoted-string, so quotes and backslashes are removed. */
function quoted(text: string): string {
  return text.replace(/["\\]/g, '');
}

/** `missing`: no credentials were sent, so RFC 6750 §3.1 wants no error code in the challenge. */
function unauthorized(c: Context<AuthEnv>, realm: string, detail: string, missing = false) {
  const error = missing ? '' : `, error="invalid_token", error_description="${quoted(detail)}"`;
  return challenge(c, 401, detail, `Bearer realm="${realm}"${error}`);
}

function forbidden(c: Context<AuthEnv>, realm: string, detail: string, scopes: readonly string[]) {
  const scope = scopes.length > 0 ? `, scope="${scopes.join(' ')}"` : '';
  return challenge(c, 403, detail, `Bearer realm="${realm}", error="insufficient_scope"${scope}`);
}

function challenge(
  c: Context<AuthEnv>,
  status: ContentfulStatusCode,
  detail: string,
  header: string,
) {
  return problemResponse(c, { status, detail, headers: { 'WWW-Authenticate': header } });
}
