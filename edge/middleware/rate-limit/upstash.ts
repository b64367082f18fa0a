import { Ratelimit } from '@upstash/ratelimit';
import type { Redis } from '@upstash/redis/cloudflare';
import { type AccessCredentials, upstashRedis } from '../../lib/upstash';
import type { Window } from './config';
import type { QuotaCheck, QuotaOutcome, QuotaStore, QuotaVerdict } from './quota-store';

// Module scope on purpose: @upstash/ratelimit's ephemeral cache remembers identifiers that are
// over their limit and answers them without a Redis round trip, but only while the isolate (and
// so this Map) lives. Per request it would be empty every time.
const ephemeralCache = new Map<string, number>();
const limiters = new Map<string, Ratelimit>();
const clients = new Map<string, Redis>();

export type UpstashQuotaStoreOptions = {
  url: string;
  token: string;
  prefix: string;
  timeoutMs: number;
  /** The Access service token, for an SRH behind the tunnel. */
  access?: AccessCredentials;
};

function client(url: string, token: string, access: AccessCredentials = {}): Redis {
  // Keyed by both: a rotated token must not keep using the client made with the old one.
  const key = `${url}\u0000${token}\u0000${access.CF_ACCESS_CLIENT_ID ?? ''}`;
  let redis = clients.get(key);
  if (!redis) {
    redis = upstashRedis(
      {
        url,
        token,
        // The fail mode decides what an outage means; retrying here would only hold every
        // request for the backoff (50 ms × e^n, 5 times by default) before it decides anyway.
        retry: false,
        enableTelemetry: false,
      },
      access,
    );
    clients.set(key, redis);
  }
  return redis;
}

function limiter(redis: Redis, options: UpstashQuotaStoreOptions, check: QuotaCheck): Ratelimit {
  const key = `${options.url}|${options.token}|${options.prefix}|${check.name}|${check.limit}|${check.window}`;
  let ratelimit = limiters.get(key);
  if (!ratelimit) {
    ratelimit = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(check.limit, check.window as Window),
      prefix: `${options.prefix}:${check.name.replace(/\s+/g, '-')}:${check.window.replace(' ', '')}`,
      ephemeralCache,
      timeout: options.timeoutMs,
      analytics: false,
    });
    limiters.set(key, ratelimit);
  }
  return ratelimit;
}

/**
 * What this isolate knows of one counter (a quota applied to one identifier). The store's last
 * answer, minus what was allowed here since, decides most requests without a round trip; the
 * requests allowed that way are sent on in one `limit(id, { rate: n })` per round trip, after
 * the answer (`waitUntil`), so the store still counts every one of them.
 *
 * Hand-written: @upstash/ratelimit's own ephemeral cache remembers only refusals (it spares a
 * blocked caller's round trip, not an allowed one's), and its `cachedFixedWindow` counts in the
 * isolate alone, between Redis writes of every request. The parts used are the library's: the
 * sliding window in Redis, `rate`, `pending`, `timeout`, and the ephemeral cache.
 */
type Tally = {
  /** Left in the window when the store last answered, counting everything it had been sent. */
  remaining: number;
  /** When that window ends (epoch ms): headers say it. */
  reset: number;
  /** The store refused it: refused here, with no round trip, until then. */
  blockedUntil: number;
  /** Allowed here and not yet sent to the store. */
  unsent: number;
  /** Sent and not yet answered. */
  inflight: number;
  /** A request is sending what was allowed here: at most one per counter at a time. */
  flushing: boolean;
  /** False until the store has answered for it, and again after it failed to. */
  known: boolean;
};

/** Per isolate, like the limiters. Bounded: an attacker rotating addresses must not grow it. */
const tallies = new Map<string, Tally>();
const MAX_TALLIES = 20_000;

function tallyOf(key: string): Tally {
  let tally = tallies.get(key);
  if (!tally) {
    if (tallies.size >= MAX_TALLIES) evictIdle();
    tally = {
      remaining: 0,
      reset: 0,
      blockedUntil: 0,
      unsent: 0,
      inflight: 0,
      flushing: false,
      known: false,
    };
    tallies.set(key, tally);
  }
  return tally;
}

/** Drop the oldest tenth that owe the store nothing (losing one only costs a round trip). */
function evictIdle(): void {
  let toDrop = Math.ceil(MAX_TALLIES / 10);
  for (const [key, t] of tallies) {
    if (toDrop === 0) break;
    if (t.unsent === 0 && t.inflight === 0) {
      tallies.delete(key);
      toDrop -= 1;
    }
  }
}

/**
 * How many requests of one counter an isolate may allow before the store has answered for them:
 * a tenth of the quota, at least one. This is the overshoot bound: an isolate whose view is out
 * of date (another isolate used the quota up meanwhile) lets at most this many through before
 * the store's answer refuses the rest. One isolate alone never overshoots: it counts what it
 * allowed.
 */
export const creditOf = (quota: { limit: number }) => Math.max(1, Math.floor(quota.limit / 10));

/** What is left as far as this isolate can tell. */
const estimate = (t: Tally) => t.remaining - t.unsent - t.inflight;

function learn(t: Tally, answer: { success: boolean; remaining: number; reset: number }): void {
  t.known = true;
  t.reset = answer.reset;
  // The store's figure counts all it was sent; what is still in flight is subtracted by estimate.
  t.remaining = answer.remaining;
  if (!answer.success) t.blockedUntil = answer.reset;
}

/** One `limit(id, { rate })` of `rate` requests already decided, and what its answer says. */
async function send(t: Tally, ratelimit: Ratelimit, identifier: string, rate: number) {
  t.inflight += rate;
  try {
    const answer = await ratelimit.limit(identifier, { rate });
    await answer.pending;
    // A timeout resolves with success: true; it means "not counted", not "allowed".
    if (answer.reason === 'timeout') t.known = false;
    return answer;
  } catch (error) {
    // Not counted, and not known: the next request waits for the store, and the fail mode
    // decides if it is still down.
    t.known = false;
    throw error;
  } finally {
    t.inflight -= rate;
  }
}

/** How long one request keeps sending what other requests allowed before leaving it to the next. */
const FLUSH_SPAN_MS = 5_000;

/**
 * Send what was allowed here, batched, until nothing is owed (or FLUSH_SPAN_MS has passed: the
 * next request takes over). The promise is for the caller's own `waitUntil`, and undefined when
 * another request's send is already under way: workerd cancels a request that awaits a promise
 * another request's I/O resolves ("the Worker's code had hung"), so no request ever waits on
 * another's; they share the tally, a plain object, and nothing else.
 */
function flush(t: Tally, ratelimit: Ratelimit, identifier: string): Promise<void> | undefined {
  if (t.flushing || t.unsent === 0) return undefined;
  t.flushing = true;
  return (async () => {
    const started = Date.now();
    try {
      while (t.unsent > 0 && Date.now() - started < FLUSH_SPAN_MS) {
        const rate = t.unsent;
        t.unsent = 0;
        const answer = await send(t, ratelimit, identifier, rate).catch(() => undefined);
        // A refused batch means the window filled meanwhile: blocked until it frees.
        if (answer && answer.reason !== 'timeout')
          learn(t, { ...answer, remaining: answer.success ? answer.remaining : 0 });
      }
    } finally {
      t.flushing = false;
    }
  })();
}

/** Until no batch of `counters` is in flight (polling the tallies), or `timeoutMs`. */
async function settled(tallies: readonly Tally[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tallies.some((t) => t.inflight > 0) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 2));
}

/**
 * Sliding-window quotas in Redis through the Upstash REST protocol (Upstash, SRH, or ours),
 * decided in the isolate where it can be: a counter the store answered for recently and that
 * still has room is allowed at once (and counted after the answer); a counter the store refused
 * is refused at once until its window frees. Only a counter seen for the first time (or after an
 * error), or one this isolate has used up, waits for the store. docs/edge-gateway.md
 * ("Quotas off the hot path") says how far a caller can overshoot.
 */
export function upstashQuotaStore(options: UpstashQuotaStoreOptions): QuotaStore {
  const redis = client(options.url, options.token, options.access);
  return {
    kind: 'upstash',
    async limit(checks) {
      const now = Date.now();
      const counters = checks.map((check) => {
        const ratelimit = limiter(redis, options, check);
        const key = `${options.url}|${options.prefix}|${check.name}|${check.limit}|${check.window}|${check.identifier}`;
        return { check, ratelimit, tally: tallyOf(key) };
      });

      // Refused by the store, and its window has not freed yet: no round trip.
      const blocked = counters.find((c) => c.tally.blockedUntil > now);
      if (blocked)
        return {
          status: 'checked',
          verdicts: counters.map(({ check, tally }) =>
            tally === blocked.tally
              ? { ...check, success: false, remaining: 0, reset: tally.blockedUntil }
              : {
                  ...check,
                  success: true,
                  remaining: Math.max(0, estimate(tally)),
                  reset: tally.reset,
                },
          ),
          pending: Promise.resolve(),
          local: true,
        };

      // Room left as far as this isolate knows, and no more owed to the store than its credit:
      // allowed now, counted after the answer.
      const local = counters.every(
        ({ check, tally }) =>
          tally.known && estimate(tally) > 0 && tally.unsent + tally.inflight < creditOf(check),
      );
      if (local) {
        const verdicts = counters.map(({ check, tally }) => {
          tally.unsent += 1;
          return { ...check, success: true, remaining: estimate(tally), reset: tally.reset };
        });
        const pending = Promise.all(
          counters.map(({ check, ratelimit, tally }) => flush(tally, ratelimit, check.identifier)),
        );
        return { status: 'checked', verdicts, pending, local: true } satisfies QuotaOutcome;
      }

      // Ask the store and wait: once the batches other requests sent have been answered (so the
      // store's count has them), this request's own, with what is still unsent, as one `rate`.
      await settled(
        counters.map((c) => c.tally),
        options.timeoutMs,
      );
      const answers = await Promise.allSettled(
        counters.map(({ check, ratelimit, tally }) => {
          const rate = tally.unsent + 1;
          tally.unsent = 0;
          return send(tally, ratelimit, check.identifier, rate);
        }),
      );
      const pending = Promise.resolve();
      const verdicts: QuotaVerdict[] = [];
      for (const [i, s] of answers.entries()) {
        const { check, tally } = counters[i] as (typeof counters)[number];
        if (s.status === 'rejected') return unavailable(s.reason, pending);
        if (s.value.reason === 'timeout')
          return {
            status: 'unavailable',
            reason: `timed out after ${options.timeoutMs} ms`,
            pending,
          };
        learn(tally, s.value);
        verdicts.push({
          ...check,
          success: s.value.success,
          remaining: s.value.remaining,
          reset: s.value.reset,
        });
      }
      return { status: 'checked', verdicts, pending } satisfies QuotaOutcome;
    },
  };
}

function unavailable(error: unknown, pending: Promise<unknown>): QuotaOutcome {
  const message = error instanceof Error ? error.message : String(error);
  // The message of a failed fetch can contain the URL; never the token, which is a header.
  return { status: 'unavailable', reason: message.slice(0, 200), pending };
}
