import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';

/** One request as the origin received it. */
export type OriginRequest = { method: string; path: string };

export type OriginServer = {
  /** `http://127.0.0.1:<port>`, the same across stop() and start(). */
  url: string;
  port: number;
  /** Every request that reached the origin since it first started, oldest first. */
  readonly requests: readonly OriginRequest[];
  /** How many requests for exactly this path and query reached the origin (any method). */
  count: (path: string) => number;
  /** Stops listening and drops every open connection, as a stopped or crashed process would. */
  stop: () => Promise<void>;
  /** Listens again on the same port. */
  start: () => Promise<void>;
};

type FetchApp = { fetch: (request: Request) => Response | Promise<Response> };

/**
 * The origin app (origin/app.ts createApp) on a socket, the way origin/index.ts serves it with
 * @hono/node-server, plus what an end-to-end test needs around it: the list of requests that
 * reached it (to prove a cache hit never did) and a stop and start on the same port (to take the
 * origin away from the edge and bring it back, as a redeploy or a crash would).
 *
 * @example
 *   const origin = await startOriginServer(createApp({ db, logger }));
 *   await origin.stop(); // ... the origin is down ...
 *   await origin.start(); // back on the same port
 */
export async function startOriginServer(app: FetchApp): Promise<OriginServer> {
  const requests: OriginRequest[] = [];
  const handle = getRequestListener((request: Request) => {
    const url = new URL(request.url);
    requests.push({ method: request.method, path: `${url.pathname}${url.search}` });
    return app.fetch(request);
  });
  let server = await listen(createServer(handle), 0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    count: (path) => requests.filter((r) => r.path === path).length,
    stop: () => close(server),
    start: async () => {
      if (server.listening) throw new Error(`the origin on port ${port} is already running`);
      server = await listen(createServer(handle), port);
    },
  };
}

/** What a delaying proxy did with one request. */
export type DelayedExchange = {
  path: string;
  /** `client-closed`: the client hung up while the proxy was still holding the request. */
  outcome: 'pending' | 'forwarded' | 'client-closed';
  /** Milliseconds from its arrival to the outcome. */
  afterMs?: number;
};

export type DelayingProxy = {
  url: string;
  /** Every request it received, oldest first; `outcome` changes as they end. */
  readonly exchanges: readonly DelayedExchange[];
  stop: () => Promise<void>;
};

/**
 * A slow origin: holds every request `delayMs` before passing it to `target`, and records
 * whether the client (the edge) hung up first. The edge must abort an upstream fetch that runs
 * past its deadline rather than leave it running; this is where that shows.
 *
 * @example
 *   const slow = await startDelayingProxy({ target: origin.url, delayMs: 2_000 });
 */
export async function startDelayingProxy(options: {
  target: string;
  delayMs: number;
}): Promise<DelayingProxy> {
  const exchanges: DelayedExchange[] = [];
  const target = new URL(options.target);

  function handle(req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const exchange: DelayedExchange = { path: req.url ?? '/', outcome: 'pending' };
    exchanges.push(exchange);
    const settle = (outcome: DelayedExchange['outcome']) => {
      exchange.outcome = outcome;
      exchange.afterMs = Math.round(performance.now() - started);
    };
    const timer = setTimeout(() => {
      settle('forwarded');
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.once('error', () => res.destroy());
      req.pipe(upstream);
    }, options.delayMs);
    res.once('close', () => {
      if (exchange.outcome !== 'pending') return;
      clearTimeout(timer);
      settle('client-closed');
    });
  }

  const server = await listen(createServer(handle), 0);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    stop: () => close(server),
  };
}

function listen(server: Server, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function close(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Kept-alive connections would hold close() open and keep answering: drop them now.
    server.closeAllConnections();
  });
}
