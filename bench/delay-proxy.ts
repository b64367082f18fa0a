/**
 * A network distance on loopback: a TCP proxy that holds every chunk, each way, for half the
 * round trip before passing it on (order kept, bandwidth unlimited). This machine has no
 * `tc netem` (the qdisc is missing from its kernel), so the edge benchmark puts one of these in
 * front of the quota store and the origin to see what production's distances do. Hand-written:
 * no library injects latency into a plain TCP stream without the kernel's help.
 *
 *   DELAY_TARGET=127.0.0.1:6380 DELAY_RTT_MS=40 node --import tsx bench/delay-proxy.ts
 *
 * Announces `{ port }` over IPC once listening; stops on SIGTERM or when the parent goes away.
 */
import { connect, createServer, type Socket } from 'node:net';
import { announceReady } from './lib/api-children.js';

const [host, portText] = (process.env.DELAY_TARGET ?? '').split(':');
const rttMs = Number(process.env.DELAY_RTT_MS ?? 'NaN');
if (!host || !portText || !Number.isFinite(rttMs) || rttMs < 0)
  throw new Error('DELAY_TARGET=host:port and DELAY_RTT_MS=<ms> are required');
const oneWay = rttMs / 2;

/** Forward `from`'s bytes to `to`, each chunk `oneWay` ms after it arrived. */
function delayed(from: Socket, to: Socket): void {
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

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host, port: Number(portText), noDelay: true });
  delayed(client, upstream);
  delayed(upstream, client);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') announceReady({ port: address.port });
});

const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('disconnect', stop);
