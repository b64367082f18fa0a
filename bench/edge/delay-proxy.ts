/**
 * The delay proxy (scripts/lib/delay-proxy.ts) as a child process of the edge benchmark:
 *
 *   DELAY_TARGET=127.0.0.1:6380 DELAY_RTT_MS=40 node --import tsx bench/edge/delay-proxy.ts
 *
 * Announces `{ port }` over IPC once listening; stops on SIGTERM or when the parent goes away.
 */
import { startDelayProxy } from '../../scripts/lib/delay-proxy.js';
import { announceReady } from '../lib/children.js';

const [host, portText] = (process.env.DELAY_TARGET ?? '').split(':');
const rttMs = Number(process.env.DELAY_RTT_MS ?? 'NaN');
if (!host || !portText || !Number.isFinite(rttMs) || rttMs < 0)
  throw new Error('DELAY_TARGET=host:port and DELAY_RTT_MS=<ms> are required');

const proxy = await startDelayProxy({ host, port: Number(portText) }, rttMs);
announceReady({ port: proxy.port });

const stop = () => proxy.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('disconnect', stop);
