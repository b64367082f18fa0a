import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../../test/support/edge-assertion.js';
import { feedSource, fixture, HEADER } from '../../../test/support/etl.js';
import { createApp } from '../../app.js';
import { createLogger } from '../../logger.js';

/** Privileged ETL actions leave an audit entry, with the request that carried them. */
let t: TestDatabase;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  t = await createTestDatabase();
  app = throughEdge(
    createApp({ db: t.db, logger: createLogger('silent'), edgeAssertionSecret: TEST_EDGE_SECRET }),
  );
});
afterAll(async () => {
  await t.drop();
});

type AuditRow = {
  action: string;
  target: string;
  outcome: string;
  request_id: string;
  details: Record<string, unknown>;
};
const entries = (action: string) =>
  t.db.rows<AuditRow>(
    sql`SELECT action, target, outcome, request_id, details FROM audit_log WHERE action = ${action} ORDER BY id`,
  );

describe('the ETL audit trail', () => {
  it('records a source declared and then changed, its URL credential kept as a reference', async () => {
    const body = (location: string) =>
      JSON.stringify({ ...feedSource('audited', location), name: undefined });
    const put = (location: string) =>
      app.request('/v1/etl/sources/audited', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: body(location),
      });
    const literal = await put('https://feeder:s3cret@feeds.example.com/a.csv');
    expect(literal.status).toBe(400);
    expect(await literal.text()).not.toContain('s3cret');
    const created = await put(`https://feeder:\${FEED_AUDITED_PASSWORD}@feeds.example.com/a.csv`);
    expect(created.status).toBe(201);
    const changed = await put(fixture(`${HEADER}\nA1,A,1,2,a,2024-01-01,47.5,-122.5\n`));
    expect(changed.status).toBe(200);

    const [create] = await entries('etl.source.create');
    expect(create).toMatchObject({
      target: 'source:audited',
      outcome: 'success',
      request_id: created.headers.get('x-request-id'),
    });
    expect(create?.details.location).toBe(
      `https://feeder:\${FEED_AUDITED_PASSWORD}@feeds.example.com/a.csv`,
    );
    const [update] = await entries('etl.source.update');
    expect(update).toMatchObject({
      target: 'source:audited',
      request_id: changed.headers.get('x-request-id'),
    });
  });

  it('records a run started through the API with its run id', async () => {
    const res = await app.request('/v1/etl/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'audited' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: number };
    const [start] = await entries('etl.run.start');
    expect(start).toMatchObject({
      target: 'source:audited',
      outcome: 'success',
      details: { run_id: id },
    });
    expect(start?.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('records nothing for a refused start (unknown source)', async () => {
    const before = (await entries('etl.run.start')).length;
    const res = await app.request('/v1/etl/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'nope' }),
    });
    expect(res.status).toBe(404);
    expect(await entries('etl.run.start')).toHaveLength(before);
  });
});
