import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { describe, expect, inject, it } from 'vitest';
import { originProxy, originTarget } from '.';

describe('originProxy', () => {
  it('refuses a policy with a timeout that is not a whole number of ms when it is created', () => {
    expect(() => originProxy({ policy: { timeout_ms: 0 } })).toThrow(/timeout_ms/);
    expect(() => originProxy({ policy: { timeout_ms: 1.5 } })).toThrow(/timeout_ms/);
  });

  it('gives 504 problem+json when the origin is slower than the headers timeout', async () => {
    const app = new Hono<{ Bindings: { ORIGIN_URL: string } }>()
      .use(requestId())
      .all('*', originProxy({ policy: { timeout_ms: 50 } }).handler);

    const res = await app.request('/slow/2000', {}, { ORIGIN_URL: inject('originUrl') });

    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({
      type: 'urn:estate-edge:problem:origin-timeout',
      status: 504,
      request_id: res.headers.get('x-request-id'),
    });
  });
});

describe('originTarget', () => {
  const request = (url: string) => new URL(url);

  it('appends path and query to the origin, keeping a base path', () => {
    expect(originTarget('https://origin.example.com/api/', request('https://e/v1/x?q=1'))).toBe(
      'https://origin.example.com/api/v1/x?q=1',
    );
  });

  it('keeps a protocol-relative looking path on the origin host', () => {
    expect(originTarget('http://127.0.0.1:3000', request('https://e//evil.example/x'))).toBe(
      'http://127.0.0.1:3000//evil.example/x',
    );
  });

  it('rejects an ORIGIN_URL that is not an http(s) URL, naming the variable', () => {
    expect(() => originTarget('origin:3000', request('https://e/'))).toThrow(/ORIGIN_URL/);
    expect(() => originTarget('not a url', request('https://e/'))).toThrow(/ORIGIN_URL/);
  });
});
