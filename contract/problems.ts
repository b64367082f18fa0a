/**
 * The problem codes both ends answer with (RFC 9457 problem+json), written once: a closed list,
 * each with its one status, title and `type`. The origin maps its errors to a code in its one
 * onError (origin/http/problem.ts), the edge names a code where it refuses (edge/middleware/
 * problem); a client can branch on `type` and find the same meaning on both sides.
 *
 * `about:blank` where the status says it all (RFC 9457 §4.2.1); a URN of ours where a client
 * needs to tell two answers with one status apart (502 unreachable vs 504 timeout).
 */
const urn = (name: string) => `urn:estate-edge:problem:${name}` as const;

export const problems = {
  invalid_request: { status: 400, title: 'Invalid request', type: 'about:blank' },
  unauthenticated: { status: 401, title: 'Unauthorized', type: 'about:blank' },
  forbidden: { status: 403, title: 'Forbidden', type: 'about:blank' },
  not_found: { status: 404, title: 'Not Found', type: 'about:blank' },
  method_not_allowed: { status: 405, title: 'Method Not Allowed', type: 'about:blank' },
  conflict: { status: 409, title: 'Conflict', type: 'about:blank' },
  payload_too_large: { status: 413, title: 'Payload Too Large', type: 'about:blank' },
  unsupported_media_type: { status: 415, title: 'Unsupported Media Type', type: 'about:blank' },
  unprocessable: { status: 422, title: 'Unprocessable Content', type: 'about:blank' },
  rate_limited: { status: 429, title: 'Too Many Requests', type: urn('rate-limited') },
  internal: { status: 500, title: 'Internal Server Error', type: 'about:blank' },
  origin_unreachable: { status: 502, title: 'Bad Gateway', type: urn('origin-unreachable') },
  /** The edge's circuit breaker is open: the origin failed repeatedly, requests are paused. */
  origin_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    type: urn('origin-unavailable'),
  },
  database_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    type: urn('database-unavailable'),
  },
  /** A security setting is invalid: the process refuses rather than guess (fail closed). */
  misconfigured: { status: 503, title: 'Service Unavailable', type: urn('misconfigured') },
  /** The edge's public status page has no monitoring history to read. */
  status_unavailable: {
    status: 503,
    title: 'Status Unavailable',
    type: urn('status-unavailable'),
  },
  origin_timeout: { status: 504, title: 'Gateway Timeout', type: urn('origin-timeout') },
} as const satisfies Record<string, { status: number; title: string; type: string }>;

export type ProblemCode = keyof typeof problems;
export const problemCodes = Object.keys(problems) as ProblemCode[];

/** The `type` of each code that has one of its own, by camel-case name (the edge's spelling). */
export const problemTypes = {
  blank: 'about:blank',
  originUnreachable: problems.origin_unreachable.type,
  originTimeout: problems.origin_timeout.type,
  originUnavailable: problems.origin_unavailable.type,
  rateLimited: problems.rate_limited.type,
  misconfigured: problems.misconfigured.type,
  databaseUnavailable: problems.database_unavailable.type,
  statusUnavailable: problems.status_unavailable.type,
} as const;
