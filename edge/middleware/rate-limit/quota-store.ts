import type { Quota } from './config';

/** One counter to check: a quota applied to one identifier. */
export type QuotaCheck = Quota & {
  /** What the 429 says was used up: `plan standard` or `global`. */
  name: string;
  /** Who is counted: `ip:203.0.113.7`, `user:12`, `api_key:3`, `global`. */
  identifier: string;
  /** `owner`: the owner of an API key, counted for all of its keys (the 429 says so). */
  sharedBy?: 'owner';
};

export type QuotaVerdict = QuotaCheck & {
  success: boolean;
  remaining: number;
  /** When the window frees a request again, epoch ms. */
  reset: number;
};

export type QuotaOutcome =
  | {
      status: 'checked';
      verdicts: QuotaVerdict[];
      pending: Promise<unknown>;
      /** Decided in the isolate, without waiting for the store (the access log's `-local`). */
      local?: boolean;
    }
  /** The store could not answer (error or timeout): the fail mode decides. */
  | { status: 'unavailable'; reason: string; pending: Promise<unknown> };

/**
 * Where quotas are counted (Unkey's ratelimit/{interface,upstash,noop} split): the Upstash
 * implementation in production and tests, the no-op one where no Redis is configured.
 */
export interface QuotaStore {
  readonly kind: 'upstash' | 'none';
  limit(checks: readonly QuotaCheck[]): Promise<QuotaOutcome>;
}
