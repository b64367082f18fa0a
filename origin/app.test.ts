import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/support/db.js';
import { createApp } from './app.js';
import { createLogger } from './logger.js';

type Problem = { type: string; title: string; status: number; detail: string; request_id?: string };

let testDb: TestDatabase;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  testDb = await createTestDatabase();
  app = createApp({ db: testDb.db, logger: createLogger('silent') });
});

afterAll(async () => {
  await testDb?.drop();
});

/** Assert the response is an RFC 9457 problem with this status, and return its body. */
async function expectProblem(response: Response, status: number): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as Problem;
  expect(body).toMatchObject({ type: 'about:blank', status });
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.detail.length).toBeGreaterThan(0);
  // The id the client can quote is the one in the response header.
  expect(body.request_id).toBeTruthy();
  expect(body.request_id).toBe(response.headers.get('x-request-id'));
  return body;
}

describe('GET /health', () => {
  it('answers 200 ok and is never cached', async () => {
    const response = await app.request('/health');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('sends the secure headers', async () => {
    const response = await app.request('/health');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('GET /health/ready', () => {
  // The full readiness contract is tested in origin/routes/health/; this is the wiring.
  it('reports the database up and the migrations current', async () => {
    const response = await app.request('/health/ready');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as {
      status: string;
      checks: {
        database: { status: string; latency_ms: number };
        migrations: { applied: number; available: number; status: string };
      };
    };
    // No ETL run yet in this database: "degraded" is a 200 with details, never "down".
    expect(['ok', 'degraded']).toContain(body.status);
    expect(body.checks.database.status).toBe('up');
    expect(body.checks.database.latency_ms).toBeGreaterThanOrEqual(0);
    expect(body.checks.migrations.status).toBe('ok');
    expect(body.checks.migrations.applied).toBeGreaterThan(0);
    expect(body.checks.migrations.applied).toBe(body.checks.migrations.available);
  });
});

// The listings API is tested beside it, in origin/routes/listings/*.test.ts.
describe('request ids', () => {
  it('echoes a well-formed X-Request-Id from the client in the problem', async () => {
    const response = await app.request('/v1/listings?limit=0', {
      headers: { 'X-Request-Id': 'client-req-123' },
    });
    const body = await expectProblem(response, 400);
    expect(body.request_id).toBe('client-req-123');
  });

  it('replaces a hostile X-Request-Id with its own', async () => {
    const response = await app.request('/v1/listings?limit=0', {
      headers: { 'X-Request-Id': `<script>${'a'.repeat(500)}` },
    });
    const body = await expectProblem(response, 400);
    expect(body.request_id).not.toContain('<script>');
    expect((body.request_id as string).length).toBeLessThanOrEqual(128);
  });
});

describe('errors', () => {
  it('answers an unknown route with a 404 problem naming the path', async () => {
    const body = await expectProblem(await app.request('/v2/nothing-here'), 404);
    expect(body.detail).toBe('no route for GET /v2/nothing-here');
  });

  it('clips a huge unknown path in the 404 detail', async () => {
    const body = await expectProblem(await app.request(`/${'p'.repeat(100_000)}`), 404);
    expect(body.detail.length).toBeLessThan(300);
  });

  it('refuses a body over 1 MiB with a 413 problem', async () => {
    const size = 1024 * 1024 + 1;
    const response = await app.request('/v1/listings', {
      method: 'POST',
      body: 'x'.repeat(size),
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(size) },
    });
    const body = await expectProblem(response, 413);
    expect(body.detail).toBe('the body is over 1 MiB');
  });

  it('does not refuse a body of exactly 1 MiB as too large', async () => {
    const size = 1024 * 1024;
    const response = await app.request('/v1/listings', {
      method: 'POST',
      body: 'x'.repeat(size),
      headers: { 'Content-Length': String(size) },
    });
    expect(response.status).not.toBe(413);
    expect(response.status).toBeLessThan(500);
  });
});
