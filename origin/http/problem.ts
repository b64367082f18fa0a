import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { Logger } from '../logger.js';

/** Shorten text that may quote the request. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

type Issue = { path: PropertyKey[]; message: string; code?: string; keys?: string[] };

/**
 * Zod issues as one readable sentence that names each parameter: "query parameter 'limit': Too
 * big: expected number to be <=500". Capped: a hostile request must not be echoed back whole.
 */
export function describeIssues(issues: readonly Issue[], target?: string): string {
  const where =
    target === 'query'
      ? 'query parameter'
      : target === 'param'
        ? 'path parameter'
        : target === 'json'
          ? 'body field'
          : 'parameter';
  return issues
    .slice(0, 5)
    .map((i) => {
      if (i.code === 'unrecognized_keys' && i.keys) {
        const at = i.path.length > 0 ? `${i.path.map(String).join('.')}.` : '';
        return `unknown ${where}${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${clip(at + k, 80)}'`).join(', ')}`;
      }
      const name = i.path.map(String).join('.');
      return `${name ? `${where} '${clip(name, 60)}'` : 'request'}: ${clip(i.message, 200)}`;
    })
    .join('; ');
}

/** Our API errors: thrown below the route layer by name, mapped to a status here only. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    detail: string,
    readonly type = 'about:blank',
  ) {
    super(detail);
  }
}

const MAX_DETAIL = 500;

/** An RFC 9457 problem+json response, the one error shape on the wire (same as the edge's). */
export function problem(
  c: Context,
  status: ContentfulStatusCode,
  title: string,
  detail: string,
  type = 'about:blank',
  extensions: Record<string, unknown> = {},
) {
  const requestId = c.get('requestId' as never) as string | undefined;
  // A detail can quote the request (an unknown 100 KB parameter name): never echo it back whole.
  const shortDetail =
    detail.length <= MAX_DETAIL ? detail : `${detail.slice(0, MAX_DETAIL)}… (truncated)`;
  return c.body(
    JSON.stringify({
      type,
      title,
      status,
      detail: shortDetail,
      ...(requestId ? { request_id: requestId } : {}),
      ...extensions,
    }),
    status,
    {
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
    },
  );
}

/**
 * The one onError, branching in a fixed order: validation error, our API error, HTTPException,
 * unknown (logged with the request id, generic 500, no stack to the client).
 */
export function problemErrorHandler(logger: Logger): ErrorHandler {
  return function problemOnError(error, c) {
    if (error instanceof z.ZodError) {
      return problem(c, 400, 'Invalid request', describeIssues(error.issues));
    }
    const code = (error as { code?: unknown }).code;
    if (code === 'INVALID_PARAMETER') {
      // Errors that list several problems (every bad feature of a GeoJSON upload) carry them as
      // an `errors` member, capped: `detail` alone is cut at 500 characters.
      const problems = (error as { problems?: unknown }).problems;
      return problem(
        c,
        400,
        'Invalid request',
        error.message,
        'about:blank',
        Array.isArray(problems) ? { errors: problems.slice(0, 100) } : {},
      );
    }
    if (code === 'NOT_FOUND' || code === 'SOURCE_NOT_FOUND')
      return problem(c, 404, 'Not Found', error.message);
    if (code === 'CONFLICT' || code === 'RUN_CONFLICT')
      return problem(c, 409, 'Conflict', error.message);
    if (error instanceof ApiError)
      return problem(c, error.status, error.title, error.message, error.type);
    if (error instanceof HTTPException) {
      return problem(
        c,
        error.status as ContentfulStatusCode,
        error.message || 'HTTP error',
        error.message || 'request refused',
      );
    }
    if (isDatabaseUnavailable(error)) {
      // The database restarting or unreachable is an outage, not a bug: 503 tells clients (and
      // the edge's retries and breaker) to come back, where a 500 would say the request was bad.
      logger.warn({ err: error, requestId: c.get('requestId' as never) }, 'database unavailable');
      c.header('Retry-After', '5');
      return problem(
        c,
        503,
        'Service Unavailable',
        'the database is unavailable for a moment; retry shortly',
      );
    }
    logger.error({ err: error, requestId: c.get('requestId' as never) }, 'unhandled error');
    return problem(
      c,
      500,
      'Internal Server Error',
      'an unexpected error occurred; quote the request id when reporting it',
    );
  };
}

/**
 * Errors that mean "the database cannot be reached right now": socket errors, postgres-js's own
 * connection codes, SQLSTATE class 08 (connection exception) and the shutdown/startup codes a
 * restarting server sends (57P01-57P03), too many connections (53300). drizzle wraps driver errors
 * ("Failed query: …"), so the cause chain is followed.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const connectionCodes = new Set([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'ENOTFOUND',
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECTION_DESTROYED',
    'CONNECT_TIMEOUT',
    '57P01',
    '57P02',
    '57P03',
    '53300',
  ]);
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (connectionCodes.has(code) || code.startsWith('08')))
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
