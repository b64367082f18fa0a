import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { serve } from '@hono/node-server';

/**
 * Request line plus headers the origin accepts: twice Node's default (16 KiB), so the edge's own
 * limits (8 KiB of URL, 16 KiB of client headers: edge/middleware/request-size) plus the headers
 * it adds always fit, and what is refused here was sent straight to the origin.
 */
export const MAX_HEADER_BYTES = 32 * 1024;

type ParserError = Error & { code?: string };

const answers: Record<string, { status: number; title: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    title: 'Request Header Fields Too Large',
    detail: `The request line and headers are over ${MAX_HEADER_BYTES} bytes. Send a shorter URL or smaller headers.`,
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    title: 'Request Timeout',
    detail: 'The request was not received in time.',
  },
};

const badRequest = {
  status: 400,
  title: 'Bad Request',
  detail: 'The request is not valid HTTP/1.1.',
};

/**
 * The raw HTTP response for a request Node's parser refused before the app saw it. Node's own
 * answer is a bare status line with no body; ours is the problem+json every other error is.
 */
export function clientErrorResponse(error: ParserError): string {
  const answer = (error.code && answers[error.code]) || badRequest;
  const body = JSON.stringify({
    type: 'about:blank',
    title: answer.title,
    status: answer.status,
    detail: answer.detail,
  });
  return [
    `HTTP/1.1 ${answer.status} ${answer.title}`,
    'Content-Type: application/problem+json',
    'Cache-Control: no-store',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Serves `fetch` on Node the way the origin does everywhere (origin/index.ts, the tests): with
 * @hono/node-server, a header limit of MAX_HEADER_BYTES, and parser errors answered in
 * problem+json (the pattern of Node's `clientError` documentation: a listener replaces Node's
 * default answer, so it must write one itself or close the socket).
 *
 * @example
 *   const server = serveApp(app.fetch, { hostname: '127.0.0.1', port: 8080 }, (a) => log(a));
 */
export function serveApp(
  fetch: (request: Request) => Response | Promise<Response>,
  at: { hostname: string; port: number },
  onListening?: (info: AddressInfo) => void,
) {
  const server = serve(
    { fetch, ...at, serverOptions: { maxHeaderSize: MAX_HEADER_BYTES } },
    onListening,
  );
  server.on('clientError', (error: ParserError, socket: Duplex) => {
    // A reset or a half-closed socket has no one left to read an answer.
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorResponse(error));
  });
  return server;
}
