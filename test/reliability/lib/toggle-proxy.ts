import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ToggleProxy = {
  url: string;
  /** 0: pass straight through. Otherwise every new request is held this long first. */
  setDelay: (ms: number) => void;
  readonly counts: {
    forwarded: number;
    delayed: number;
    clientClosed: number;
    upstreamErrors: number;
  };
  stop: () => Promise<void>;
};

/**
 * The Worker's way to the origin, with a switch that makes the origin slow. Always in the path,
 * so the slow-origin fault is a toggle during load rather than a second Worker: a request already
 * being forwarded when the switch flips is unaffected, a new one is held. When the origin cannot
 * be reached, the proxy drops the Worker's connection, so the Worker sees what it would see
 * without the proxy: a connection error.
 *
 * test/support/origin-server.ts's startDelayingProxy is fixed-delay by design (one request, one
 * outcome); this one stays up for the whole run.
 *
 * @example
 *   const proxy = await startToggleProxy(origin.url);
 *   proxy.setDelay(6_000); // ... the origin is slow ...
 *   proxy.setDelay(0);
 */
export async function startToggleProxy(target: string): Promise<ToggleProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const counts = { forwarded: 0, delayed: 0, clientClosed: 0, upstreamErrors: 0 };
  let delayMs = 0;

  const server: Server = createServer((req, res) => {
    let timer: NodeJS.Timeout | undefined;
    let forwarding: ReturnType<typeof httpRequest> | undefined;
    res.once('close', () => {
      if (res.writableFinished) return;
      counts.clientClosed += 1;
      clearTimeout(timer);
      forwarding?.destroy();
    });
    const forward = () => {
      counts.forwarded += 1;
      forwarding = httpRequest(
        {
          agent,
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarding.once('error', () => {
        counts.upstreamErrors += 1;
        res.destroy();
      });
      req.pipe(forwarding);
    };
    if (delayMs > 0) {
      counts.delayed += 1;
      timer = setTimeout(forward, delayMs);
    } else forward();
  });
  // Held requests must not be cut by Node's own request timeout.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setDelay: (ms) => {
      delayMs = ms;
    },
    counts,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
