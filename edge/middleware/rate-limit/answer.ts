import type { Context } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { ProblemType, problemResponse } from '../problem';

/** What the RateLimit-* headers of one answer say: its tightest limit. */
export type HeaderFigures = {
  limit: number;
  remaining: number;
  resetSeconds: number;
  policy: string;
};

/** draft-ietf-httpapi-ratelimit-headers (-07): RateLimit-Limit/Remaining/Reset and -Policy. */
export function setRateLimitHeaders(headers: Headers, f: HeaderFigures): void {
  headers.set('RateLimit-Limit', String(f.limit));
  headers.set('RateLimit-Remaining', String(f.remaining));
  headers.set('RateLimit-Reset', String(f.resetSeconds));
  headers.set('RateLimit-Policy', f.policy);
}

/** 429 problem+json with Retry-After and the RateLimit-* headers; shared with the burst guard. */
export function tooMany<E extends { Variables: RequestIdVariables }>(
  c: Context<E>,
  f: HeaderFigures & { detail: string },
): Response {
  const headers = new Headers({ 'Retry-After': String(f.resetSeconds) });
  setRateLimitHeaders(headers, f);
  return problemResponse(c, {
    code: 'rate_limited',
    detail: f.detail,
    headers,
  });
}
