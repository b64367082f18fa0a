import type { CircuitBreakerPolicy, CircuitState, RetryPolicy } from 'cockatiel';
import * as z from 'zod/mini';

type Cockatiel = typeof import('cockatiel');
let cockatiel: Cockatiel | undefined;

/**
 * cockatiel, loaded on the first forwarded request rather than at start-up: its module aborts an
 * AbortController at top level (its `abortedSignal`), which workerd refuses outside a handler
 * ("Disallowed operation called within global scope"), so a static import stops the Worker from
 * starting under `wrangler dev` and in production. esbuild keeps a dynamic import lazy.
 */
export async function loadCockatiel(): Promise<Cockatiel> {
  cockatiel ??= await import('cockatiel');
  return cockatiel;
}

const routeTimeoutSchema = z.object({
  prefix: z.string().check(z.regex(/^\/[\w./-]*$/, 'must be a path starting with /')),
  timeout_ms: z.int().check(z.gte(50), z.lte(100_000)),
});

/**
 * ORIGIN_POLICY in wrangler.toml: how long the origin may take to answer (per route prefix,
 * first match wins; Cloudflare itself gives up at 100 s with an opaque 524), how often an
 * idempotent request is retried, and when the circuit breaker opens.
 */
export const originPolicySchema = z.object({
  timeout_ms: z._default(z.int().check(z.gte(50), z.lte(100_000)), 10_000),
  routes: z._default(z.array(routeTimeoutSchema).check(z.maxLength(50)), []),
  retries: z._default(z.int().check(z.gte(0), z.lte(5)), 2),
  /** First retry delay; later ones grow exponentially with decorrelated jitter. */
  retry_backoff_ms: z._default(z.int().check(z.gte(1), z.lte(5_000)), 50),
  breaker: z._default(
    z.object({
      /** Consecutive failures (unreachable, timeout, 502/503/504) that open the circuit. */
      failures: z._default(z.int().check(z.gte(1), z.lte(10_000)), 5),
      /** How long it stays open before one probe request may try (half-open). */
      cooldown_ms: z._default(z.int().check(z.gte(100), z.lte(600_000)), 10_000),
    }),
    { failures: 5, cooldown_ms: 10_000 },
  ),
});
export type OriginPolicy = z.infer<typeof originPolicySchema>;

export function timeoutFor(policy: OriginPolicy, path: string): number {
  const route = policy.routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
  return route?.timeout_ms ?? policy.timeout_ms;
}

/** Statuses that say "the origin (or the tunnel) is not there right now": retried, counted. */
export const unavailableStatuses = new Set([502, 503, 504]);

/** A fetch that failed to connect, as opposed to our own deadline or the client going away. */
export function isConnectionError(error: unknown): boolean {
  if (isBrokenCircuit(error)) return false;
  const name = error instanceof Error ? error.name : '';
  return name !== 'AbortError' && name !== 'TimeoutError';
}

export type OriginBreaker = {
  policy: CircuitBreakerPolicy;
  /** When the circuit last opened (epoch ms): Retry-After is what is left of the cooldown. */
  openedAt: number;
  cooldownMs: number;
};

// One breaker per origin and policy, per isolate: an isolate stops hammering a dead origin on
// its own. Isolates do not share state (no store round trip on the hot path); each learns in
// `failures` requests.
const breakers = new Map<string, OriginBreaker>();

export function isBrokenCircuit(error: unknown): boolean {
  return cockatiel !== undefined && error instanceof cockatiel.BrokenCircuitError;
}

export function breakerFor(lib: Cockatiel, originUrl: string, policy: OriginPolicy): OriginBreaker {
  const { circuitBreaker, handleWhen, ConsecutiveBreaker, CircuitState } = lib;
  const key = `${originUrl}|${policy.breaker.failures}|${policy.breaker.cooldown_ms}`;
  let entry = breakers.get(key);
  if (!entry) {
    const created: OriginBreaker = {
      policy: circuitBreaker(
        handleWhen(
          (e) => !(e instanceof Error && e.name === 'AbortError' && !isTimeout(e)),
        ).orWhenResult((r) => r instanceof Response && unavailableStatuses.has(r.status)),
        {
          halfOpenAfter: policy.breaker.cooldown_ms,
          breaker: new ConsecutiveBreaker(policy.breaker.failures),
        },
      ),
      openedAt: 0,
      cooldownMs: policy.breaker.cooldown_ms,
    };
    created.policy.onStateChange((state) => {
      if (state === CircuitState.Open) created.openedAt = Date.now();
      console.warn(
        JSON.stringify({
          level: state === CircuitState.Closed ? 'info' : 'warn',
          msg: 'origin circuit breaker',
          state: stateName(state),
          origin: originUrl,
        }),
      );
    });
    breakers.set(key, created);
    entry = created;
  }
  return entry;
}

/** The isolate's breakers and their states, for GET /edge/health. */
// Not the origin's address: /edge/health is public, and where the origin lives is not.
export function breakerSnapshot(): { state: string; opened_at: string | null }[] {
  return [...breakers.values()].map((b) => ({
    state: stateName(b.policy.state),
    opened_at: b.openedAt ? new Date(b.openedAt).toISOString() : null,
  }));
}

function isTimeout(error: Error): boolean {
  return (
    error.name === 'TimeoutError' ||
    (error.cause instanceof Error && error.cause.name === 'TimeoutError')
  );
}

/** Retries for idempotent requests only: connection errors and 502/503/504, never timeouts. */
export function retryPolicy(lib: Cockatiel, policy: OriginPolicy): RetryPolicy {
  const { retry, handleWhen, ExponentialBackoff } = lib;
  const retrying = retry(
    handleWhen(isConnectionError).orWhenResult(
      (r) => r instanceof Response && unavailableStatuses.has(r.status),
    ),
    {
      maxAttempts: policy.retries,
      backoff: new ExponentialBackoff({
        initialDelay: policy.retry_backoff_ms,
        maxDelay: policy.retry_backoff_ms * 10,
      }),
    },
  );
  // The answer being retried is thrown away: release its connection.
  retrying.onRetry((reason) => {
    if ('value' in reason && reason.value instanceof Response) reason.value.body?.cancel();
  });
  return retrying;
}

// cockatiel's CircuitState by value (Closed 0, Open 1, HalfOpen 2, Isolated 3): the module may
// not be loaded when this is called.
export function stateName(state: CircuitState): 'closed' | 'open' | 'half-open' | 'isolated' {
  return state === 0 ? 'closed' : state === 1 ? 'open' : state === 2 ? 'half-open' : 'isolated';
}
