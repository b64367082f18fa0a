import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

import { cfAccess } from './cf-access.js';

/**
 * Cloudflare Access is a third party that cannot run here: a local server stands in for the
 * team's certs endpoint, serving real RS256 public keys, and records how often it is asked.
 */
const TEAM = 'acme.cloudflareaccess.com';
const AUD = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
let certs: Server;
let certsUrl: string;
let certsRequests = 0;
let teamKey: CryptoKey;
let otherKey: CryptoKey;
let app: Hono;

beforeAll(async () => {
  const team = await generateKeyPair('RS256');
  teamKey = team.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = {
    ...(await exportJWK(team.publicKey)),
    kid: 'team-1',
    alg: 'RS256',
    use: 'sig',
  };
  certs = createServer((_req, res) => {
    certsRequests += 1;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => certs.listen(0, '127.0.0.1', resolve));
  certsUrl = `http://127.0.0.1:${(certs.address() as AddressInfo).port}/cdn-cgi/access/certs`;
  app = new Hono();
  app.use(cfAccess({ teamDomain: TEAM, audience: AUD, certsUrl }));
  app.get('/health', (c) => c.text('ok'));
  app.get('/v1/listings', (c) => c.text('listings'));
});
afterAll(async () => {
  await new Promise((resolve) => certs.close(resolve));
});

function accessJwt(
  overrides: { key?: CryptoKey; aud?: string; iss?: string; exp?: number; kid?: string } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: 'worker@acme.example', type: 'app' })
    .setProtectedHeader({ alg: 'RS256', kid: overrides.kid ?? 'team-1' })
    .setIssuer(overrides.iss ?? `https://${TEAM}`)
    .setAudience(overrides.aud ?? AUD)
    .setIssuedAt(now - 10)
    .setExpirationTime(overrides.exp ?? now + 300)
    .sign(overrides.key ?? teamKey);
}

const get = (path: string, token?: string) =>
  app.request(path, token ? { headers: { 'Cf-Access-Jwt-Assertion': token } } : {});

describe('the Cloudflare Access check at the origin', () => {
  it('lets a request with the team-signed assertion for this application through', async () => {
    const res = await get('/v1/listings', await accessJwt());
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('listings');
    expect(certsRequests).toBeGreaterThanOrEqual(1);
  });

  it('keeps liveness open to the private network', async () => {
    expect((await get('/health')).status).toBe(200);
  });

  it.each([
    ['no assertion', async () => undefined, /no Cf-Access-Jwt-Assertion/],
    [
      'another application',
      () => accessJwt({ aud: 'f'.repeat(64) }),
      /not valid \(ERR_JWT_CLAIM_VALIDATION_FAILED\)/,
    ],
    ['another team', () => accessJwt({ iss: 'https://evil.cloudflareaccess.com' }), /not valid/],
    [
      'a key that is not the team',
      () => accessJwt({ key: otherKey }),
      /not valid \(ERR_JWS_SIGNATURE_VERIFICATION_FAILED\)/,
    ],
    [
      'an expired assertion',
      () => accessJwt({ exp: Math.floor(Date.now() / 1000) - 60 }),
      /expired/,
    ],
    ['a 100 KB header', async () => 'x'.repeat(100_000), /too long/],
    ['a malformed token', async () => 'not.a.jwt', /not valid/],
  ])('refuses %s with 401 problem+json', async (_case, token, detail) => {
    const res = await get('/v1/listings', await token());
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe('CloudflareAccess');
    expect(((await res.json()) as { detail: string }).detail).toMatch(detail);
  });

  it('refuses a team domain or AUD that cannot be right, at start', () => {
    expect(() => cfAccess({ teamDomain: 'evil.example.com', audience: AUD })).toThrow(
      /CF_ACCESS_TEAM_DOMAIN/,
    );
    expect(() => cfAccess({ teamDomain: TEAM, audience: 'short' })).toThrow(/CF_ACCESS_AUD/);
  });
});

describe('the origin app with Cloudflare Access configured', () => {
  it('checks the Access assertion before anything else, and leaves liveness open', async () => {
    const { createApp } = await import('../app.js');
    const { createLogger } = await import('../logger.js');
    const origin = createApp({
      // Refused requests never reach the database; /health does not touch it.
      db: {} as never,
      logger: createLogger('silent'),
      cfAccess: { teamDomain: TEAM, audience: AUD, certsUrl },
    });
    const refused = await origin.request('/v1/listings');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('CloudflareAccess');
    expect((await origin.request('/health')).status).toBe(200);
  });
});
