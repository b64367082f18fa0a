import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { RequestIdVariables } from 'hono/request-id';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ProblemCode, problems, problemTypes } from '../../../contract/problems';

/** Any Hono environment that runs `requestId()`. */
type RequestIdEnv = { Variables: RequestIdVariables };

/**
 * The one error shape on the wire: RFC 9457 `application/problem+json`.
 * `request_id` is our extension member so a client can quote it in a bug report.
 */
export type Problem = {
  type: string;
  title: string;
  status: ContentfulStatusCode;
  detail: string;
  request_id: string;
};

/**
 * The problem types, from the list both ends share (contract/problems.ts). `about:blank` (RFC 9457
 * §4.2.1) means "nothing beyond the status code"; our own types are URNs, compared as opaque
 * strings (§3.1.1 does not require a page to dereference).
 */
export const ProblemType = problemTypes;

const statusTitles: Partial<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The reason phrase for `status`, used as the `title` of `about:blank` problems. */
export function statusTitle(status: number): string {
  return statusTitles[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/**
 * A shared code (its status, title and type from contract/problems.ts), or a bare status for the
 * generic `about:blank` answers (400 for a malformed request, 405, 414…).
 */
type ProblemInit = (
  | { code: ProblemCode; status?: never }
  | { status: ContentfulStatusCode; code?: never }
) & {
  detail: string;
  headers?: HeadersInit;
  /** RFC 9457 extension members, after the standard ones (e.g. `/edge/health`'s `problems`). */
  extensions?: Record<string, unknown>;
};

/**
 * Build a problem+json response carrying the request id set by `requestId()`.
 *
 * @example
 * return problemResponse(c, { code: 'origin_unreachable',
 *   detail: 'The origin server could not be reached.' });
 */
export function problemResponse<E extends RequestIdEnv>(
  c: Context<E>,
  init: ProblemInit,
): Response {
  const shared = init.code ? problems[init.code] : undefined;
  const status = (shared?.status ?? init.status) as ContentfulStatusCode;
  const body: Problem = {
    type: shared?.type ?? ProblemType.blank,
    title: shared?.title ?? statusTitle(status),
    status,
    detail: init.detail,
    request_id: c.get('requestId') ?? 'unknown',
  };
  const headers = new Headers(init.headers);
  headers.set('Content-Type', 'application/problem+json');
  // Errors describe one request at one moment; a shared cache must never replay them.
  headers.set('Cache-Control', 'no-store');
  // c.newResponse, not new Response: it keeps headers set earlier with c.header() (X-Request-Id).
  // The standard members first and never overridden by an extension of the same name.
  const members = init.extensions ? { ...body, ...init.extensions, ...body } : body;
  return c.newResponse(JSON.stringify(members), { status, headers });
}

/** Keeps `HTTPException` statuses that can carry a body; anything else becomes a 500. */
function contentfulStatus(status: number): ContentfulStatusCode {
  return status >= 400 && status <= 599 ? (status as ContentfulStatusCode) : 500;
}

/**
 * The app's single `onError`. Branches in a fixed order: our API errors and validation errors
 * (none at the edge yet), `HTTPException`, then anything unknown, which is logged and answered
 * with a generic 500 that never carries the message or stack.
 *
 * @example
 * app.onError(problemErrorHandler());
 */
export function problemErrorHandler<E extends RequestIdEnv>(): ErrorHandler<E> {
  return function problemErrorHandler(err, c) {
    if (err instanceof HTTPException) {
      // An HTTPException may carry a prepared response (e.g. WWW-Authenticate from an auth
      // middleware): keep its headers, replace only the body with the problem shape.
      const prepared = err.res?.headers;
      const headers = new Headers(prepared);
      headers.delete('Content-Type');
      headers.delete('Content-Length');
      const status = contentfulStatus(err.status);
      return problemResponse(c, {
        status,
        detail: err.message || statusTitle(status),
        headers,
      });
    }

    console.error(
      JSON.stringify({
        level: 'error',
        msg: 'unhandled error',
        request_id: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        error:
          err instanceof Error
            ? { name: err.name, message: err.message, stack: err.stack }
            : String(err),
      }),
    );
    return problemResponse(c, {
      status: 500,
      detail: 'The edge failed to handle this request. Quote the request id when reporting it.',
    });
  };
}
