/**
 * Domain errors: thrown below the HTTP layer by name and code; only the route layer's error
 * handler (http/problem.ts) turns them into statuses.
 */
export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND' as const;
}

export class ConflictError extends Error {
  readonly code = 'CONFLICT' as const;
}

/** A parameter that passed its schema but is wrong in context (a tampered cursor, two wheres). */
export class InvalidParameterError extends Error {
  readonly code = 'INVALID_PARAMETER' as const;
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}
