/** Writes done together, in one round trip (a MULTI/EXEC at Upstash). */
export type StoreWrite = {
  /** JSON documents to replace. */
  set?: Record<string, unknown>;
  /** Items added to the head of a list (the last one given ends up first), then trimmed. */
  push?: { list: string; items: readonly unknown[]; keep: number }[];
};

/**
 * Where the scheduled jobs keep what must survive between runs, and the status page reads it
 * (Unkey's ratelimit/{interface,upstash,noop} split): Redis through the Upstash REST protocol, the
 * same as the quotas, or nothing at all. Names are relative to MONITORING.prefix.
 */
export interface MonitorStore {
  readonly kind: 'upstash' | 'none';
  /**
   * Takes a lock that expires by itself (SET NX EX): true for the one caller that got it. What
   * makes a trigger that fires twice, or two overlapping runs, do a job once.
   */
  claim(name: string, ttlSeconds: number): Promise<boolean>;
  release(name: string): Promise<void>;
  /** A JSON document, or null when absent or unreadable. */
  get(name: string): Promise<unknown>;
  write(write: StoreWrite): Promise<void>;
  /** The first `count` items of a list (newest first); unreadable items are dropped. */
  list(name: string, count: number): Promise<unknown[]>;
}
