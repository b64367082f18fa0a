import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { type RequestIdVariables, requestId } from 'hono/request-id';
import { describe, expect, it, vi } from 'vitest';
import { problemErrorHandler } from '.';

function appThatThrows(error: unknown) {
  return new Hono<{ Variables: RequestIdVariables }>()
    .use(requestId())
    .get('/', () => {
      throw error;
    })
    .onError(problemErrorHandler());
}

describe('problemErrorHandler', () => {
  it('answers an HTTPException with its status as problem+json and keeps its headers', async () => {
    const prepared = new Response(null, { headers: { 'WWW-Authenticate': 'Bearer' } });
    const app = appThatThrows(new HTTPException(401, { message: 'Token expired.', res: prepared }));

    const res = await app.request('/');

    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toEqual({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'Token expired.',
      request_id: res.headers.get('x-request-id'),
    });
  });

  it('answers an unknown error with a generic 500 that leaks neither message nor stack', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const app = appThatThrows(new Error('password=hunter2 at db.internal:5432'));

    const res = await app.request('/');
    const text = await res.text();

    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('at ');
    expect(JSON.parse(text)).toMatchObject({ type: 'about:blank', status: 500 });
    expect(log).toHaveBeenCalledOnce();
    expect(String(log.mock.calls[0]?.[0])).toContain(res.headers.get('x-request-id'));
    log.mockRestore();
  });
});
