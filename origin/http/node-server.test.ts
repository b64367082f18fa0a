import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { MAX_HEADER_BYTES, serveApp } from './node-server.js';

let database: TestDatabase;
let server: Server;
let port: number;

beforeAll(async () => {
  database = await createTestDatabase();
  const app = createApp({ db: database.db, logger: createLogger('silent') });
  await new Promise<void>((resolve) => {
    server = serveApp(app.fetch, { hostname: '127.0.0.1', port: 0 }, () => resolve()) as Server;
  });
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await database.drop();
});

/** Raw bytes to the origin's socket, everything it answers back (it closes after an error). */
function exchange(raw: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      resolve({
        status: Number(head.split(' ')[1]),
        headers: head.toLowerCase(),
        body: rest.join('\r\n\r\n'),
      });
    });
    socket.end(raw);
  });
}

const get = (target: string, extra = '') =>
  exchange(`GET ${target} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n${extra}\r\n`);

describe('the origin’s HTTP server', () => {
  it('takes request lines past Node’s default 16 KiB, up to its own limit', async () => {
    const res = await get(`/v1/listings?bbox=-122.4,47.5,-122.2,47.7&x=${'a'.repeat(20_000)}`);
    // Reached the app: its validation answers (an unknown parameter), not the HTTP parser.
    expect(res.status).toBe(400);
    expect(res.body).toContain("'x'");
  });

  it('answers a request line over the limit with 431 problem+json, not a bare status', async () => {
    for (const length of [MAX_HEADER_BYTES + 1, 100_000, 1_000_000]) {
      const res = await get(`/v1/listings?q=${'%27'.repeat(length / 3)}`);
      expect(res.status).toBe(431);
      expect(res.headers).toContain('content-type: application/problem+json');
      const problem = JSON.parse(res.body) as { status: number; detail: string };
      expect(problem.status).toBe(431);
      expect(problem.detail).toContain(`${MAX_HEADER_BYTES} bytes`);
    }
  });

  it('answers oversized headers with 431 problem+json', async () => {
    const res = await get('/health', `Cookie: ${'c'.repeat(MAX_HEADER_BYTES)}\r\n`);
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toMatchObject({ status: 431, title: expect.any(String) });
  });

  it('answers bytes that are not HTTP with 400 problem+json', async () => {
    for (const raw of [
      'NOT HTTP AT ALL\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n',
      'GET /\0 HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello',
    ]) {
      const res = await exchange(raw);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ status: 400, detail: expect.any(String) });
    }
  });

  it('keeps serving after all of that', async () => {
    const res = await get('/health');
    expect(res.status).toBe(200);
  });
});
