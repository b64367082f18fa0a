/**
 * Identity's domain errors. Thrown below the HTTP layer; origin/http/principal.ts maps them to
 * 401 (with WWW-Authenticate), 403 and 429.
 */

/** No credentials, or credentials that do not verify. `reason` is for logs, never the client. */
export class UnauthenticatedError extends Error {
  readonly code = 'UNAUTHENTICATED' as const;
  constructor(
    message: string,
    readonly reason: string = message,
  ) {
    super(message);
  }
}

/** Wrong email or password: one message for both, so the answer does not say which. */
export class InvalidCredentialsError extends Error {
  readonly code = 'INVALID_CREDENTIALS' as const;
  constructor() {
    super('the email or the password is wrong');
  }
}

/** Authenticated, but without the scope (or ownership) the action needs. */
export class ForbiddenError extends Error {
  readonly code = 'FORBIDDEN' as const;
}

export class RateLimitedError extends Error {
  readonly code = 'RATE_LIMITED' as const;
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed attempts; retry in ${retryAfterSeconds} s`);
  }
}

/** Signing keys exist but cannot be read (encrypted with a secret this process does not have). */
export class SigningKeyError extends Error {
  readonly code = 'SIGNING_KEY' as const;
}
