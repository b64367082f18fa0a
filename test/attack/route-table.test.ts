import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouteRule, routePolicy, routeRuleFor, routeRules } from '../../contract/routes.js';
import { hasScope, impliedBy, type Scope, scopes } from '../../contract/scopes.js';
import { createApp } from '../../origin/app.js';
import { createLogger } from '../../origin/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { assertionHeaders } from '../support/edge-assertion.js';

/**
 * Issue 13, finding 3: one route table (contract/routes.ts), enforced at both ends. This walks
 * every route the origin serves (its router and its OpenAPI document) against the table, every
 * rule against the routes, and then sends each scoped route a principal without its scope,
 * straight at the origin with a valid edge assertion: the origin itself must refuse it. Before
 * the table was shared, GET listings/stats/areas/tiles, POST /v1/areas and /metrics answered
 * any assertion (POST /v1/areas: 201 for an anonymous principal).
 */

const secret = randomBytes(32).toString('base64url');
let t: TestDatabase;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({ db: t.db, logger: createLogger('silent'), edgeAssertionSecret: secret });
});

afterAll(async () => {
  await t.drop();
});

/** A concrete path for a route pattern: `:id` → 1, the tile pattern → 1/1/1.mvt. */
function samplePath(pattern: string): string {
  return pattern
    .replace(/:z\/:x\/:y\{[^}]+\}/, '1/1/1.mvt')
    .replace(/\{(\w+)\}\.mvt/, '1.mvt')
    .replace(/:(\w+)\{[^}]+\}/g, 'sample')
    .replace(/:id\b/g, '1')
    .replace(/:(\w+)/g, 'sample')
    .replace(/\{id\}/g, '1')
    .replace(/\{(\w+)\}/g, 'sample');
}

type Served = { method: string; path: string };

/**
 * The routes as the origin's router holds them, read when the tests are collected (before any
 * database exists): building the app does not touch the database.
 */
const catalogue = createApp({
  db: {} as never,
  logger: createLogger('silent'),
  edgeAssertionSecret: secret,
});

function servedRoutes(): Served[] {
  const seen = new Map<string, Served>();
  for (const route of catalogue.routes) {
    if (route.method === 'ALL') continue;
    seen.set(`${route.method} ${route.path}`, {
      method: route.method,
      path: samplePath(route.path),
    });
  }
  const doc = catalogue.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
  });
  for (const [path, operations] of Object.entries(doc.paths ?? {}))
    for (const method of Object.keys(operations as object))
      seen.set(`${method.toUpperCase()} ${path}`, {
        method: method.toUpperCase(),
        path: samplePath(path),
      });
  return [...seen.values()];
}

const ruleName = (rule: RouteRule) =>
  `${rule.methods === 'any' ? 'any' : rule.methods.join('|')} ${rule.prefix}`;

describe('the route table', () => {
  it('has a rule for every route the origin serves', () => {
    const uncovered = servedRoutes()
      .filter((r) => routeRuleFor(r.method, r.path) === undefined)
      .map((r) => `${r.method} ${r.path}`);
    expect(uncovered).toEqual([]);
  });

  it('has a route for every rule', () => {
    const served = servedRoutes();
    const unused = routeRules
      .filter((rule) => !served.some((r) => routeRuleFor(r.method, r.path) === rule))
      .map(ruleName);
    expect(unused).toEqual([]);
  });

  it('denies a write no rule covers, at both ends (the same function)', () => {
    expect(routePolicy('DELETE', '/v1/listings/1')).toEqual({ kind: 'deny' });
    expect(routePolicy('POST', '/v1/brand-new')).toEqual({ kind: 'deny' });
  });
});

/** Every scope but `needed` and those that imply it. */
function scopesWithout(needed: Scope): Scope[] {
  const implying = new Set<Scope>([needed, ...(impliedBy[needed] ?? [])]);
  return scopes.filter((s) => !implying.has(s));
}

describe('the origin enforces the table on every route, behind a valid assertion', () => {
  const scoped = servedRoutes().flatMap((r) => {
    const policy = routePolicy(r.method, r.path);
    return policy.kind === 'scope' ? [{ ...r, needed: policy.anyOf[0] as Scope }] : [];
  });

  it('covers the data, admin and operations routes', () => {
    const names = scoped.map((r) => `${r.method} ${r.path}`);
    for (const expected of [
      'GET /v1/listings',
      'GET /v1/stats',
      'GET /v1/areas',
      'POST /v1/areas',
      'GET /v1/tiles/listings/1/1/1.mvt',
      'GET /metrics',
      'POST /v1/etl/runs',
      'PUT /v1/etl/sources/sample',
      'POST /v1/api-keys',
    ])
      expect(names).toContain(expected);
  });

  it.each(scoped.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: 403 for a user holding every other scope',
    async (_name, route) => {
      const body = route.method === 'GET' ? null : '{}';
      const headers = await assertionHeaders(
        secret,
        { method: route.method, path: route.path, body },
        { claims: { scope: scopesWithout(route.needed).join(' ') } },
      );
      const res = await app.request(route.path, {
        method: route.method,
        headers: { ...headers, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body } : {}),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('www-authenticate')).toContain(`scope="${route.needed}"`);
    },
  );

  it.each(scoped.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: 401 for an anonymous principal without scopes',
    async (_name, route) => {
      const body = route.method === 'GET' ? null : '{}';
      const headers = await assertionHeaders(
        secret,
        { method: route.method, path: route.path, body },
        { claims: { sub: 'anonymous', principal_type: 'anonymous', scope: '', plan: 'anonymous' } },
      );
      const res = await app.request(route.path, {
        method: route.method,
        headers: { ...headers, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        ...(body ? { body } : {}),
      });
      expect(res.status).toBe(401);
    },
  );

  it('lets keys:admin alone manage API keys, as the edge does', async () => {
    expect(hasScope(['keys:admin'], 'keys:write')).toBe(true);
    const headers = await assertionHeaders(
      secret,
      { method: 'GET', path: '/v1/api-keys' },
      { claims: { scope: 'keys:admin' } },
    );
    const res = await app.request('/v1/api-keys', { headers });
    expect(res.status).toBe(200);
  });
});
