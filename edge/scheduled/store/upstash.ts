import { type AccessCredentials, upstashRedis } from '../../lib/upstash';
import type { MonitorStore, StoreWrite } from './interface';

export type UpstashMonitorStoreOptions = {
  url: string;
  token: string;
  prefix: string;
  /** Per Redis request; a hung store must not hold a cron run or the status page. */
  timeoutMs: number;
  /** The Access service token, for an SRH behind the tunnel. */
  access?: AccessCredentials;
};

function parse(value: unknown): unknown {
  if (typeof value !== 'string') return null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}

/** The monitoring store in Redis through the Upstash REST protocol (Upstash, SRH, or ours). */
export function upstashMonitorStore(options: UpstashMonitorStoreOptions): MonitorStore {
  const redis = upstashRedis(
    {
      url: options.url,
      token: options.token,
      enableTelemetry: false,
      // Values are JSON we write and parse ourselves, checked by a schema where they are used:
      // the client's own parsing would turn a string that looks like a number into one.
      automaticDeserialization: false,
      // Two quick retries for a dropped connection; a store that stays down is reported by the job.
      retry: { retries: 2, backoff: (n) => 100 * 2 ** n },
      signal: () => AbortSignal.timeout(options.timeoutMs),
    },
    options.access,
  );
  const key = (name: string) => `${options.prefix}:${name}`;
  return {
    kind: 'upstash',
    async claim(name, ttlSeconds) {
      const ok = await redis.set(key(name), new Date().toISOString(), {
        nx: true,
        ex: Math.max(1, Math.ceil(ttlSeconds)),
      });
      return ok === 'OK';
    },
    async release(name) {
      await redis.del(key(name));
    },
    async get(name) {
      return parse(await redis.get<string>(key(name)));
    },
    async write({ set = {}, push = [] }: StoreWrite) {
      const tx = redis.multi();
      let commands = 0;
      for (const [name, value] of Object.entries(set)) {
        tx.set(key(name), JSON.stringify(value));
        commands += 1;
      }
      for (const { list, items, keep } of push) {
        if (items.length === 0) continue;
        const [first, ...rest] = items.map((item) => JSON.stringify(item));
        tx.lpush(key(list), first as string, ...rest);
        // LPUSH + LTRIM: a bounded history without a sweeper.
        tx.ltrim(key(list), 0, keep - 1);
        commands += 2;
      }
      if (commands > 0) await tx.exec();
    },
    async list(name, count) {
      const items = await redis.lrange<string>(key(name), 0, count - 1);
      return items.map(parse).filter((item) => item !== null);
    },
  };
}
