/** The run cannot go on (bad header, unreadable input): the run fails and nothing is written. */
export class FeedError extends Error {
  readonly code = 'FEED_INVALID';
}

/** Another run of the same source holds the source's lock. */
export class RunConflictError extends Error {
  readonly code = 'RUN_CONFLICT';
}

/** No source by that name. */
export class SourceNotFoundError extends Error {
  readonly code = 'SOURCE_NOT_FOUND';
}

/** The input could not be fetched (404, timeout, refused connection after retries). */
export class FetchError extends Error {
  readonly code = 'FETCH_FAILED';
}
