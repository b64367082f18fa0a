import type { MiddlewareHandler } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { problemResponse } from '../problem';

export type RequestSizeOptions = {
  /** Longest URL (path and query, in bytes) the edge forwards. */
  maxUrlBytes?: number;
  /** Largest sum of request header names and values (bytes) the edge forwards. */
  maxHeaderBytes?: number;
};

/** No URL we serve comes near it: the longest real one is a listings search with every filter. */
export const MAX_URL_BYTES = 8 * 1024;
/** Tokens and cookies fit with room; the origin's own limit (32 KiB) holds this plus the URL. */
export const MAX_HEADER_BYTES = 16 * 1024;

const encoder = new TextEncoder();

/**
 * Refuses what the origin could not take, here, with a problem+json the caller can read: a URL
 * over `maxUrlBytes` gets 414, request headers over `maxHeaderBytes` 431. Without it such a
 * request crossed the tunnel and met Node's HTTP parser, whose answer is a bare 431 with no body
 * (found by the reliability suite's fuzz pass). Hand-written: Hono's body-limit covers bodies only.
 *
 * @example
 *   app.use(requestSize());
 */
export function requestSize(
  options: RequestSizeOptions = {},
): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  const maxUrl = options.maxUrlBytes ?? MAX_URL_BYTES;
  const maxHeaders = options.maxHeaderBytes ?? MAX_HEADER_BYTES;
  return async function requestSize(c, next) {
    const url = new URL(c.req.url);
    // The request line the origin will parse: path and query as they arrived (percent-encoded,
    // so ASCII: length is bytes).
    const target = url.pathname.length + url.search.length;
    if (target > maxUrl) {
      return problemResponse(c, {
        status: 414,
        detail: `The URL's path and query are ${target} bytes; the limit is ${maxUrl}. Send fewer or shorter parameters.`,
      });
    }
    let headerBytes = 0;
    for (const [name, value] of c.req.raw.headers) {
      // "name: value\r\n", as it goes on the wire.
      headerBytes += name.length + encoder.encode(value).length + 4;
    }
    if (headerBytes > maxHeaders) {
      return problemResponse(c, {
        status: 431,
        detail: `The request headers are ${headerBytes} bytes; the limit is ${maxHeaders}. Send smaller cookies or tokens.`,
      });
    }
    return next();
  };
}
