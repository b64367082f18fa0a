/**
 * A network distance on loopback: a TCP proxy that holds every chunk, each way, for half the
 * round trip before passing it on (order kept, bandwidth unlimited). This machine has no
 * `tc netem` (the qdisc is missing from its kernel), so the edge benchmark and the edge's quota
 * tests put one of these in front of the quota store and the origin to see what production's
 * distances do. Hand-written: no library injects latency into a plain TCP stream without the
 * kernel's help. Shared by bench/ (bench/edge/delay-proxy.ts runs it as a child) and the edge tests'
 * globalSetup (edge/test/quota-store.ts), which import nothing from each other.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type DelayProxy = { port: number; url: string; close(): Promise<void> };

/** Forward `from`'s bytes to `to`, each chunk `oneWay` ms after it arrived. */
function delayed(from: Socket, to: Socket, oneWay: number): void {
  let lastDue = 0;
  from.on('data', (chunk) => {
    // Never before an earlier chunk: timers of equal delay fire in order, but clamp anyway.
    const due = Math.max(performance.now() + oneWay, lastDue);
    lastDue = due;
    setTimeout(() => to.writable && to.write(chunk), due - performance.now());
  });
  from.on('end', () => setTimeout(() => to.end(), Math.max(0, lastDue - performance.now())));
  from.on('error', () => to.destroy());
  from.on('close', () => setTimeout(() => to.destroy(), oneWay + 1));
}

/**
 * A proxy on a free loopback port to `host:port`, `rttMs` away (half each way).
 *
 * @example
 *   const far = await startDelayProxy({ host: '127.0.0.1', port: 6380 }, 40);
 *   // http://127.0.0.1:${far.port} is the same server, 40 ms further
 */
export function startDelayProxy(
  target: { host: string; port: number },
  rttMs: number,
): Promise<DelayProxy> {
  if (!Number.isFinite(rttMs) || rttMs < 0) throw new Error(`rttMs must be ≥ 0, not ${rttMs}`);
  const oneWay = rttMs / 2;
  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (client) => {
    const upstream = connect({ host: target.host, port: target.port, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, upstream, oneWay);
    delayed(upstream, client, oneWay);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (!address || typeof address !== 'object') return reject(new Error('no address'));
      resolve({
        port: address.port,
        url: `http://127.0.0.1:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
