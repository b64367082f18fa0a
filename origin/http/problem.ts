import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { type ProblemCode, problemCodes, problems } from '../../contract/problems.js';
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

/**
 * An error that already knows its answer: a code from the shared list (contract/problems.ts) and
 * a detail for the client. For the rare route that cannot throw a domain error of its own.
 */
export class ProblemError extends Error {
  constructor(
    readonly problem: ProblemCode,
    detail: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

const MAX_DETAIL = 500;
const REALM = 'estate-edge';

/**
 * An RFC 9457 problem+json response, the one error shape on the wire (same as the edge's): the
 * status, title and type come from the code (contract/problems.ts), never from the caller.
 */
export function problem(
  c: Context,
  code: ProblemCode,
  detail: string,
  extensions: Record<string, unknown> = {},
) {
  const { status, title, type } = problems[code];
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
    status as ContentfulStatusCode,
    {
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
    },
  );
}

/** `WWW-Authenticate` for a bearer refusal (RFC 6750 §3). */
export function bearerChallenge(error?: 'invalid_token' | 'insufficient_scope', scope?: string) {
  return [
    `Bearer realm="${REALM}"`,
    ...(error ? [`error="${error}"`] : []),
    ...(scope ? [`scope="${scope}"`] : []),
  ].join(', ');
}

/** What an error means for the client: a code, the detail, headers and members to add. */
type Answer = {
  code: ProblemCode;
  detail: string;
  headers?: Record<string, string>;
  extensions?: Record<string, unknown>;
};

/** Domain errors by their `code` (thrown below the HTTP layer by name: origin/errors.ts, auth/errors.ts, etl/errors.ts). */
function answerFor(error: Error): Answer | undefined {
  if (error instanceof ProblemError)
    return { code: error.problem, detail: error.message, extensions: error.extensions };
  if (error instanceof z.ZodError)
    return { code: 'invalid_request', detail: describeIssues(error.issues) };
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'INVALID_PARAMETER': {
      // Errors that list several problems (every bad feature of a GeoJSON upload) carry them as
      // an `errors` member, capped: `detail` alone is cut at 500 characters.
      const list = (error as { problems?: unknown }).problems;
      return {
        code: 'invalid_request',
        detail: error.message,
        ...(Array.isArray(list) ? { extensions: { errors: list.slice(0, 100) } } : {}),
      };
    }
    case 'NOT_FOUND':
    case 'SOURCE_NOT_FOUND':
      return { code: 'not_found', detail: error.message };
    case 'CONFLICT':
    case 'RUN_CONFLICT':
      return { code: 'conflict', detail: error.message };
    case 'UNAUTHENTICATED':
    case 'INVALID_CREDENTIALS': {
      const plain =
        code === 'INVALID_CREDENTIALS' || (error as { reason?: unknown }).reason === 'missing';
      return {
        code: 'unauthenticated',
        detail: error.message,
        headers: { 'WWW-Authenticate': bearerChallenge(plain ? undefined : 'invalid_token') },
      };
    }
    case 'FORBIDDEN': {
      const scope = (error as { cause?: unknown }).cause;
      return {
        code: 'forbidden',
        detail: error.message,
        ...(typeof scope === 'string'
          ? { headers: { 'WWW-Authenticate': bearerChallenge('insufficient_scope', scope) } }
          : {}),
      };
    }
    case 'RATE_LIMITED': {
      const seconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      return {
        code: 'rate_limited',
        detail: error.message,
        ...(typeof seconds === 'number' ? { headers: { 'Retry-After': String(seconds) } } : {}),
      };
    }
    default:
      return undefined;
  }
}

/**
 * The app's one onError (identity's routes included), in a fixed order: a domain error by its
 * code, an HTTPException, the database being unavailable, then anything else (logged with the
 * request id, generic 500, no stack to the client).
 */
export function problemErrorHandler(logger: Logger): ErrorHandler {
  return function problemOnError(error, c) {
    const answer = answerFor(error);
    if (answer) {
      for (const [name, value] of Object.entries(answer.headers ?? {})) c.header(name, value);
      return problem(c, answer.code, answer.detail, answer.extensions);
    }
    if (error instanceof HTTPException) {
      const code =
        problemCodes.find(
          (k) => problems[k].status === error.status && problems[k].type === 'about:blank',
        ) ?? (error.status >= 500 ? 'internal' : 'invalid_request');
      return problem(c, code, error.message || 'request refused');
    }
    if (isDatabaseUnavailable(error)) {
      // The database restarting or unreachable is an outage, not a bug: 503 tells clients (and
      // the edge's retries and breaker) to come back, where a 500 would say the request was bad.
      logger.warn({ err: error, requestId: c.get('requestId' as never) }, 'database unavailable');
      c.header('Retry-After', '5');
      return problem(
        c,
        'database_unavailable',
        'the database is unavailable for a moment; retry shortly',
      );
    }
    logger.error({ err: error, requestId: c.get('requestId' as never) }, 'unhandled error');
    return problem(
      c,
      'internal',
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
