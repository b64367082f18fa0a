import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../../test/support/edge-assertion.js';
import { createApp } from '../../app.js';
import { verifyAccessToken } from '../../auth/access-tokens.js';
import { passwords } from '../../auth/password.js';
import { roleScopes } from '../../auth/scopes.js';
import { testIdentityConfig as config } from '../../auth/testing.js';
import { createUser } from '../../auth/users.js';
import { createLogger } from '../../logger.js';

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
const PASSWORD = 'correct horse battery staple';
const cli = { actor: 'cli:test' };

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({ db: t.db, logger: createLogger('silent'), identity: config });
  await createUser(t.db, {
    email: 'Ana@Example.com',
    password: PASSWORD,
    role: 'analyst',
    audit: cli,
  });
});
afterAll(() => t.drop());
afterEach(() => vi.restoreAllMocks());

let ipCounter = 0;
/** Each test speaks from its own address, so the per-IP window of one does not touch another. */
function post(path: string, body: unknown, ip = `10.0.0.${++ipCounter}`) {
  return app.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

type Tokens = { access_token: string; refresh_token: string; expires_in: number; scope: string };

async function signIn(email = 'ana@example.com'): Promise<Tokens> {
  const res = await post('/v1/auth/token', { email, password: PASSWORD });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

async function auditRows(action: string) {
  return t.db.rows<{
    actor: string | null;
    target: string | null;
    outcome: string;
    details: Record<string, unknown>;
    ip: string | null;
  }>(
    sql`SELECT actor, target, outcome, details, ip FROM audit_log WHERE action = ${action} ORDER BY id`,
  );
}

describe('POST /v1/auth/token', () => {
  it('signs in with the right password, whatever the email case, and audits it', async () => {
    const res = await post(
      '/v1/auth/token',
      { email: 'ANA@example.COM', password: PASSWORD },
      '192.0.2.9',
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const body = (await res.json()) as Tokens & { token_type: string; plan: string };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(config.accessTokenTtlMinutes * 60);
    expect(body.scope.split(' ').sort()).toEqual([...roleScopes.analyst].sort());
    expect(body.refresh_token).toMatch(/^ert_/);
    const verified = await verifyAccessToken(t.db, config, body.access_token);
    expect(verified.scopes.sort()).toEqual([...roleScopes.analyst].sort());
    expect(verified.plan).toBe('standard');
    const rows = await auditRows('auth.login');
    expect(rows.at(-1)).toMatchObject({ actor: verified.sub, outcome: 'success', ip: '192.0.2.9' });
  });

  it('answers a wrong password and an unknown email alike, both after one scrypt', async () => {
    const verify = vi.spyOn(passwords, 'verify');
    const wrong = await post('/v1/auth/token', {
      email: 'ana@example.com',
      password: 'nope nope nope',
    });
    const unknown = await post('/v1/auth/token', {
      email: 'nobody@example.com',
      password: 'nope nope nope',
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const [a, b] = [
      (await wrong.json()) as { detail: string },
      (await unknown.json()) as { detail: string },
    ];
    expect(a.detail).toBe(b.detail);
    expect(wrong.headers.get('WWW-Authenticate')).toBe(unknown.headers.get('WWW-Authenticate'));
    // Both code paths ran the KDF exactly once (the unknown email against the dummy hash).
    expect(verify).toHaveBeenCalledTimes(2);
    expect(verify.mock.calls[0]?.[1]).toMatch(/^scrypt\$N=32768,r=8,p=1\$/);
    expect(verify.mock.calls[1]?.[1]).toMatch(/^scrypt\$N=32768,r=8,p=1\$/);
    expect(verify.mock.calls[0]?.[1]).not.toBe(verify.mock.calls[1]?.[1]);
    const reasons = (await auditRows('auth.login'))
      .filter((r) => r.outcome === 'failure')
      .map((r) => r.details.reason);
    expect(reasons).toEqual(expect.arrayContaining(['bad_password', 'unknown_email']));
  });

  it('slows failed attempts per account and address with 429 and Retry-After, without running scrypt', async () => {
    await createUser(t.db, {
      email: 'limited@example.com',
      password: PASSWORD,
      role: 'user',
      audit: cli,
    });
    const from = '198.51.100.40';
    for (let i = 0; i < config.loginLimits.perAccount; i++) {
      const res = await post(
        '/v1/auth/token',
        { email: 'limited@example.com', password: `bad-${i}-xxxx` },
        from,
      );
      expect(res.status).toBe(401);
    }
    const verify = vi.spyOn(passwords, 'verify');
    // Even the right password, from that address: it must wait first.
    const res = await post(
      '/v1/auth/token',
      { email: 'LIMITED@example.com', password: PASSWORD },
      from,
    );
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(verify).not.toHaveBeenCalled();
    const denied = (await auditRows('auth.login')).filter((r) => r.outcome === 'denied');
    expect(denied.at(-1)).toMatchObject({
      target: 'limited@example.com',
      details: { reason: 'rate_limited', window: 'account_ip' },
    });
    // Slowed, not locked (issue 13, finding 8): the owner from another address signs in.
    const owner = await post('/v1/auth/token', {
      email: 'limited@example.com',
      password: PASSWORD,
    });
    expect(owner.status).toBe(200);
  });

  it('limits failed attempts per IP across accounts', async () => {
    const strict = { ...config, loginLimits: { ...config.loginLimits, perIp: 2, perAccount: 100 } };
    const limited = createApp({ db: t.db, logger: createLogger('silent'), identity: strict });
    const attempt = (email: string) =>
      limited.request('/v1/auth/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': '198.51.100.7' },
        body: JSON.stringify({ email, password: 'wrong password' }),
      });
    expect((await attempt('x1@example.com')).status).toBe(401);
    expect((await attempt('x2@example.com')).status).toBe(401);
    expect((await attempt('x3@example.com')).status).toBe(429);
  });

  it('refuses a disabled user like a wrong password', async () => {
    await createUser(t.db, {
      email: 'gone@example.com',
      password: PASSWORD,
      role: 'user',
      audit: cli,
    });
    await t.db.rows(sql`UPDATE users SET disabled = true WHERE email = 'gone@example.com'`);
    const res = await post('/v1/auth/token', { email: 'gone@example.com', password: PASSWORD });
    expect(res.status).toBe(401);
    expect((await auditRows('auth.login')).at(-1)?.details.reason).toBe('disabled');
  });

  it.each([
    ['an empty object', '{}', 'email'],
    ['a malformed email', { email: 'not-an-email', password: 'x' }, 'email'],
    ['a 10 KB email', { email: `${'a'.repeat(10_000)}@x.io`, password: 'x' }, 'email'],
    ['SQL in the email', { email: "a'; DROP TABLE users;--@x.io", password: 'x' }, 'email'],
    ['an empty password', { email: 'a@b.co', password: '' }, 'password'],
    ['a 2 KB password', { email: 'a@b.co', password: 'p'.repeat(2000) }, 'password'],
    ['a numeric password', { email: 'a@b.co', password: 42 }, 'password'],
    ['an unknown field', { email: 'a@b.co', password: 'x', admin: true }, 'admin'],
    ['a body that is not JSON', 'not json', 'request'],
  ])('answers %s with 400 naming %s', async (_label, body, field) => {
    const res = await post('/v1/auth/token', body);
    expect(res.status).toBe(400);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    const detail = ((await res.json()) as { detail: string }).detail;
    expect(detail.length).toBeLessThan(700);
    if (field !== 'request') expect(detail).toContain(field);
  });
});

describe('POST /v1/auth/refresh and /logout', () => {
  it('rotates: each refresh token works once and yields a new pair', async () => {
    const first = await signIn();
    const res = await post('/v1/auth/refresh', { refresh_token: first.refresh_token });
    expect(res.status).toBe(200);
    const second = (await res.json()) as Tokens;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await verifyAccessToken(t.db, config, second.access_token)).sub).toMatch(/^user:\d+$/);
    const third = await post('/v1/auth/refresh', { refresh_token: second.refresh_token });
    expect(third.status).toBe(200);
  });

  it('revokes the whole family when a spent token is presented again, and audits it', async () => {
    const first = await signIn();
    const second = (await (
      await post('/v1/auth/refresh', { refresh_token: first.refresh_token })
    ).json()) as Tokens;
    const replay = await post('/v1/auth/refresh', { refresh_token: first.refresh_token });
    expect(replay.status).toBe(401);
    expect(replay.headers.get('WWW-Authenticate')).toMatch(/^Bearer/);
    // The legitimate holder's newest token died with the family.
    expect((await post('/v1/auth/refresh', { refresh_token: second.refresh_token })).status).toBe(
      401,
    );
    const [reuse] = (await auditRows('auth.refresh_reuse')).slice(-1);
    // Both tokens of the family, the spent one and its live successor, were revoked.
    expect(reuse).toMatchObject({ outcome: 'denied', details: { tokens_revoked: 2 } });
    expect(reuse?.target).toMatch(/^refresh_family:/);
  });

  it('refuses a refresh after logout, and logout answers 204 for anything', async () => {
    const tokens = await signIn();
    expect((await post('/v1/auth/logout', { refresh_token: tokens.refresh_token })).status).toBe(
      204,
    );
    expect((await post('/v1/auth/refresh', { refresh_token: tokens.refresh_token })).status).toBe(
      401,
    );
    expect((await post('/v1/auth/logout', { refresh_token: 'ert_nonsense' })).status).toBe(204);
    expect((await auditRows('auth.logout')).at(-1)).toMatchObject({
      outcome: 'success',
      details: { tokens_revoked: 1 },
    });
  });

  it('refuses an access token used as a refresh token, and a refresh token used as an access token', async () => {
    const tokens = await signIn();
    expect(
      (await post('/v1/auth/refresh', { refresh_token: tokens.access_token.slice(0, 200) })).status,
    ).toBe(401);
    const res = await app.request('/v1/audit', {
      headers: { Authorization: `Bearer ${tokens.refresh_token}` },
    });
    expect(res.status).toBe(401);
  });

  it.each([
    ['/v1/auth/refresh', 'an empty object', {}, 'refresh_token'],
    ['/v1/auth/refresh', 'a 10 KB token', { refresh_token: 'r'.repeat(10_000) }, 'refresh_token'],
    ['/v1/auth/refresh', 'an array', { refresh_token: ['a'] }, 'refresh_token'],
    ['/v1/auth/logout', 'an empty token', { refresh_token: '' }, 'refresh_token'],
    ['/v1/auth/logout', 'an unknown field', { refresh_token: 'x', extra: 1 }, 'extra'],
  ])('%s answers %s with 400 naming %s', async (path, _label, body, field) => {
    const res = await post(path, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain(field);
  });

  it.each([
    ['an empty object', {}],
    ['a 1 KB key', { key: 'k'.repeat(1000) }],
  ])(
    '/v1/auth/introspect-key, asked by the edge, answers %s with 400 naming key',
    async (_label, body) => {
      // Only the Worker itself may ask (contract/routes.ts): an assertion whose principal is the edge.
      const edge = throughEdge(
        createApp({
          db: t.db,
          logger: createLogger('silent'),
          identity: config,
          edgeAssertionSecret: TEST_EDGE_SECRET,
        }),
        TEST_EDGE_SECRET,
        { claims: { sub: 'edge', principal_type: 'edge', scope: 'keys:introspect' } },
      );
      const res = await edge.request('/v1/auth/introspect-key', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toContain('key');
    },
  );

  it('answers an unknown refresh token with 401, never 500', async () => {
    for (const token of ['ert_', "ert_' OR 1=1 --", 'ert_ünïcødé', `ert_${'A'.repeat(43)}`]) {
      expect((await post('/v1/auth/refresh', { refresh_token: token })).status).toBe(401);
    }
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('serves the verifying public keys, without private parts, cacheable briefly', async () => {
    await signIn(); // makes sure a key exists
    const res = await app.request('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('public, max-age=60');
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
    const [row] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM signing_keys WHERE status IN ('active', 'retiring')`,
    );
    expect(keys.length).toBe(row?.n);
  });
});
