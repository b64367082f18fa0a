import { createExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, inject, it } from 'vitest';
import { type RecordedRequest, recordingsPath } from './test/recorder-contract';
import { signAccessToken } from './test/tokens';

const edge = exports.default;

/** What the recording origin saw for the request the edge tagged with `requestId`. */
async function recordedFor(requestId: string): Promise<RecordedRequest[]> {
  const res = await fetch(
    `${inject('originUrl')}${recordingsPath}${encodeURIComponent(requestId)}`,
  );
  return res.json();
}

/** Sends `init` through the edge and returns its response and the single recorded request. */
async function forward(path: string, init?: RequestInit) {
  const res = await edge.fetch(`https://edge.test${path}`, init);
  const requestId = res.headers.get('x-request-id') ?? '';
  const recorded = await recordedFor(requestId);
  expect(recorded).toHaveLength(1);
  return { res, requestId, recorded: recorded[0] as RecordedRequest };
}

describe('GET /edge/health', () => {
  it('answers at the edge with ok, no-store, security headers and a request id', async () => {
    const res = await edge.fetch('https://edge.test/edge/health');

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', rate_limit_fail_mode: 'open' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('does not reach the origin', async () => {
    const res = await edge.fetch('https://edge.test/edge/health');

    expect(await recordedFor(res.headers.get('x-request-id') ?? '')).toEqual([]);
  });
});

describe('forwarding to the origin', () => {
  it('delivers path, query, method, body, credentials and the request id intact', async () => {
    const body = JSON.stringify({ title: 'Two-bed flat', price: 425_000 });
    const token = await signAccessToken({ claims: { scope: 'etl:admin' } });
    const { res, requestId, recorded } = await forward(
      '/v1/etl/sources/42?include=photos&q=a%20b',
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      },
    );

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ recorded: true });
    expect(recorded.method).toBe('PUT');
    expect(recorded.url).toBe('/v1/etl/sources/42?include=photos&q=a%20b');
    expect(recorded.body).toBe(body);
    expect(recorded.headers['x-request-id']).toBe(requestId);
    expect(recorded.headers['content-type']).toBe('application/json');
    expect(recorded.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('forwards HEAD as HEAD rather than as the GET Hono routes it through', async () => {
    const { res, recorded } = await forward('/v1/listings/42', { method: 'HEAD' });

    expect(res.status).toBe(200);
    expect(recorded.method).toBe('HEAD');
  });

  it('addresses the origin by its own host and passes the client host on', async () => {
    const { recorded } = await forward('/v1/listings');

    expect(recorded.headers.host).toBe(new URL(inject('originUrl')).host);
    expect(recorded.headers['x-forwarded-host']).toBe('edge.test');
  });

  it('keeps a well-formed client request id so callers can correlate', async () => {
    const { res, recorded } = await forward('/v1/listings', {
      headers: { 'x-request-id': 'client-trace-123' },
    });

    expect(res.headers.get('x-request-id')).toBe('client-trace-123');
    expect(recorded.headers['x-request-id']).toBe('client-trace-123');
  });

  it('replaces a malformed or oversized client request id with its own', async () => {
    for (const hostile of ['has spaces; and=stuff', 'x'.repeat(500), '../../etc/passwd']) {
      const { res, requestId } = await forward('/v1/listings', {
        headers: { 'x-request-id': hostile },
      });

      expect(res.status).toBe(200);
      expect(requestId).not.toBe(hostile);
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('strips hop-by-hop headers in both directions', async () => {
    const { res, recorded } = await forward('/v1/listings', {
      headers: { te: 'trailers', 'proxy-authorization': 'Basic c2VjcmV0', upgrade: 'h2c' },
    });

    expect(recorded.headers['proxy-authorization']).toBeUndefined();
    expect(recorded.headers.te).toBeUndefined();
    expect(recorded.headers.upgrade).toBeUndefined();
    expect(res.headers.get('x-origin')).toBe('recorder');
    expect(res.headers.get('keep-alive')).toBeNull();
  });

  it('retries a GET answered 503 twice, then passes the answer through with security headers', async () => {
    const res = await edge.fetch('https://edge.test/status/503');
    const recorded = await recordedFor(res.headers.get('x-request-id') ?? '');

    expect(recorded.map((r) => r.method)).toEqual(['GET', 'GET', 'GET']);
    // Each attempt carries its own assertion: the origin refuses a replayed one.
    const assertions = recorded.map((r) => r.headers['x-edge-assertion']);
    expect(new Set(assertions).size).toBe(3);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ recorded: true });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('an unreachable origin', () => {
  it('gives 502 problem+json that names the problem and the request id', async () => {
    const { default: worker } = await import('./index');
    const closed = { ...env, ORIGIN_URL: inject('closedOriginUrl') };
    const res = await worker.fetch(
      new Request('https://edge.test/v1/listings'),
      closed,
      createExecutionContext(),
    );

    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      type: 'urn:estate-edge:problem:origin-unreachable',
      title: 'Bad Gateway',
      status: 502,
      detail: expect.stringContaining('origin server could not be reached'),
      request_id: res.headers.get('x-request-id'),
    });
  });
});

describe('hostile input', () => {
  it('never answers 500 to a very long path', async () => {
    const res = await edge.fetch(
      `https://edge.test/${'a'.repeat(64 * 1024)}?q=${'b'.repeat(8192)}`,
    );

    expect(res.status).not.toBe(500);
    expect(res.status).toBeLessThan(500);
  });

  // Only methods workerd can parse reach the Worker at all: it refuses to build a Request with
  // an unknown token such as FOO (or CONNECT), so those cannot be sent from here either.
  it('answers methods it does not forward with 501 problem+json instead of failing', async () => {
    for (const method of ['PROPFIND', 'PURGE', 'TRACE', 'SEARCH']) {
      const res = await edge.fetch('https://edge.test/v1/listings', { method });

      expect(res.status, method).toBe(501);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('allow')).toContain('GET');
    }
  });

  it('cannot be steered to another host by a protocol-relative path', async () => {
    const { recorded } = await forward('//evil.example/steal?x=1');

    expect(recorded.url).toBe('//evil.example/steal?x=1');
    expect(recorded.headers.host).toBe(new URL(inject('originUrl')).host);
  });

  it('cannot strip the request id by naming it in Connection', async () => {
    const { requestId, recorded } = await forward('/v1/listings', {
      headers: { connection: 'x-request-id, host' },
    });

    expect(recorded.headers['x-request-id']).toBe(requestId);
  });

  it('forwards malformed percent-encoding and dot segments without a 500', async () => {
    for (const path of ['/%', '/%E0%A4%A', '/v1/..%2f..%2fadmin', '/v1/%00']) {
      const res = await edge.fetch(`https://edge.test${path}`);

      expect(res.status, path).toBeLessThan(500);
    }
  });
});
