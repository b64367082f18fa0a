/**
 * The load generator, in a process of its own (started by the runner, driven over IPC): an
 * open-loop client that sends the request mix of mix.ts at a steady rate, whether or not earlier
 * answers came back, as independent clients do. Closed-loop tools slow down when the server does
 * and hide exactly the stalls a soak is looking for.
 *
 * Every request is one HTTP/1.1 exchange on a fresh connection (`Connection: close`). Behind
 * Cloudflare, client connections end at Cloudflare, not at the Worker; keep-alive to workerd
 * would only test Miniflare's socket reuse (it may close an idle kept-alive socket just as the
 * next request is written, an ECONNRESET the product has nothing to do with).
 *
 * Outcomes go back to the runner in batches every 250 ms (see LoadRecord).
 */
import { request as httpRequest } from 'node:http';
import { prng } from '../../../scripts/lib/synthetic.js';
import { isProblem } from '../lib/problem-shape.js';
import {
  CACHE_CODES,
  FLAG_CONNECTION_ERROR,
  FLAG_PROBLEM,
  FLAG_RATE_LIMIT_HEADERS,
  FLAG_TIMEOUT,
  type GeneratorMessage,
  type Kind,
  kinds,
  type LoadConfig,
  type LoadRecord,
  type RunnerMessage,
  urlPools,
} from './mix.js';

const send = (message: GeneratorMessage) => process.send?.(message);

let stopRequested = false;

process.on('message', (message: RunnerMessage) => {
  if (message.type === 'start') void run(message.config);
  if (message.type === 'stop') stopRequested = true;
});
// The runner is gone (its IPC channel closed): nothing to report to.
process.on('disconnect', () => process.exit(0));

async function run(config: LoadConfig): Promise<void> {
  const random = prng(config.seed);
  const mix = kinds(urlPools(prng(config.seed + 1)));
  const totalWeight = mix.reduce((sum, k) => sum + k.weight, 0);
  const chooseKind = (): number => {
    let r = random() * totalWeight;
    for (let i = 0; i < mix.length; i++) {
      r -= (mix[i] as Kind).weight;
      if (r <= 0) return i;
    }
    return mix.length - 1;
  };

  let batch: LoadRecord[] = [];
  const flush = setInterval(() => {
    if (batch.length === 0) return;
    send({ type: 'records', records: batch });
    batch = [];
  }, 250);

  const intervalMs = 1000 / config.rate;
  const startedAt = Date.now();
  send({ type: 'started', startedAt });
  let sent = 0;
  let shed = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let settled: () => void = () => {};

  const fire = (scheduledAt: number) => {
    const kindIndex = chooseKind();
    const kind = mix[kindIndex] as Kind;
    if (inFlight >= config.maxInFlight) {
      shed += 1;
      return;
    }
    sent += 1;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const headers: Record<string, string> = {
      Connection: 'close',
      'CF-Connecting-IP': `2001:db8::${(1 + Math.floor(random() * config.addresses)).toString(16)}`,
    };
    if (kind.credentials === 'token') headers.Authorization = `Bearer ${config.adminToken}`;
    if (kind.credentials === 'quota-key') headers['X-API-Key'] = config.quotaKey;
    const path = kind.path(random, config.context);
    const start = Date.now();
    exchange(config.targets[kind.target], path, headers, config.timeoutMs).then((outcome) => {
      inFlight -= 1;
      batch.push([
        start,
        Date.now() - start,
        outcome.status,
        kindIndex,
        outcome.cache,
        outcome.flags,
        start - scheduledAt,
      ]);
      if (inFlight === 0) settled();
    });
  };

  // The schedule is absolute (start + n × interval): a late timer sends what is due at once
  // rather than drifting the rate down.
  let n = 0;
  while (!stopRequested) {
    const now = Date.now();
    while (startedAt + n * intervalMs <= now) {
      fire(startedAt + n * intervalMs);
      n += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(20, Math.max(1, intervalMs / 2))));
  }
  const stoppedAt = Date.now();
  if (inFlight > 0)
    await new Promise<void>((resolve) => {
      settled = resolve;
      setTimeout(resolve, config.timeoutMs + 1_000);
    });
  clearInterval(flush);
  if (batch.length > 0) send({ type: 'records', records: batch });
  send({ type: 'stopped', sent, shed, maxInFlight, startedAt, stoppedAt });
}

type Outcome = { status: number; cache: number; flags: number };

/** One GET; 4xx bodies are read to check their shape, others are drained unread. */
function exchange(
  base: string,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      resolve(outcome);
    };
    const req = httpRequest(
      new URL(path, base),
      { method: 'GET', headers, agent: false },
      (res) => {
        const status = res.statusCode ?? 0;
        const cache = Math.max(0, CACHE_CODES.indexOf((res.headers['x-cache'] ?? '') as never));
        let flags = res.headers['ratelimit-limit'] ? FLAG_RATE_LIMIT_HEADERS : 0;
        if (status < 400 || status >= 500) {
          res.resume();
          res.once('end', () => finish({ status, cache, flags }));
          res.once('error', () => finish({ status, cache, flags }));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 64 * 1024) chunks.push(chunk);
        });
        res.once('end', () => {
          if (isProblem(res.headers['content-type'], Buffer.concat(chunks).toString('utf8')))
            flags |= FLAG_PROBLEM;
          finish({ status, cache, flags });
        });
        res.once('error', () => finish({ status, cache, flags }));
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      finish({ status: 0, cache: 0, flags: FLAG_TIMEOUT });
    });
    req.once('error', () => finish({ status: 0, cache: 0, flags: FLAG_CONNECTION_ERROR }));
    req.end();
  });
}
