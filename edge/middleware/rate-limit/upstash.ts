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

/** Sliding-window quotas in Redis through the Upstash REST protocol (Upstash, SRH, or ours). */
export function upstashQuotaStore(options: UpstashQuotaStoreOptions): QuotaStore {
  const redis = client(options.url, options.token, options.access);
  return {
    kind: 'upstash',
    async limit(checks) {
      // All counters in parallel: one round trip of latency whatever the number of quotas.
      const settled = await Promise.allSettled(
        checks.map((check) => limiter(redis, options, check).limit(check.identifier)),
      );
      const pending = Promise.allSettled(
        settled.map((s) => (s.status === 'fulfilled' ? s.value.pending : undefined)),
      );
      const verdicts: QuotaVerdict[] = [];
      for (const [i, s] of settled.entries()) {
        const check = checks[i] as QuotaCheck;
        if (s.status === 'rejected') return unavailable(s.reason, pending);
        // A timeout resolves with success: true; it means "not checked", not "allowed".
        if (s.value.reason === 'timeout')
          return {
            status: 'unavailable',
            reason: `timed out after ${options.timeoutMs} ms`,
            pending,
          };
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
