import { edgePrincipal } from '../middleware/auth/principal';
import { type OriginCredentialsEnv, originCredentials } from '../middleware/origin-assertion';
import { originTarget } from '../middleware/origin-proxy';
import { describeError } from './log';

export type OriginCallEnv = OriginCredentialsEnv & { ORIGIN_URL: string };

export type OriginCall = {
  method?: 'GET' | 'POST';
  /** Path and query on the origin, e.g. `/v1/etl/runs?limit=50`. */
  path: string;
  /** The one scope the edge asserts for this call (`edgePrincipal(scope)`). */
  scope: string;
  timeoutMs: number;
  /** Sent as JSON. */
  body?: unknown;
};

export type OriginAnswer =
  /** The origin (or whatever answers at ORIGIN_URL: the tunnel, Access) answered. */
  | { reached: true; status: number; ms: number; json: unknown; requestId: string }
  /** No answer: refused, reset, DNS, or the deadline passed. */
  | { reached: false; timedOut: boolean; ms: number; error: string; requestId: string };

/** Answers larger than this are not read: nothing the jobs ask for comes near it. */
const MAX_BODY_BYTES = 2 * 1024 * 1024;

/**
 * One request from the edge on its own account (the scheduled jobs): the signed assertion for
 * `edgePrincipal(scope)` and, when configured, the Cloudflare Access service token
 * (originCredentials), a request id of its own so the origin's log line can be found, and a
 * deadline. Never throws for a network failure: the caller decides what "not reached" means.
 *
 * @example
 *   const answer = await callOrigin(env, { path: '/health/ready', scope: 'ops:read', timeoutMs: 10_000 });
 */
export async function callOrigin(env: OriginCallEnv, call: OriginCall): Promise<OriginAnswer> {
  const requestId = `cron-${crypto.randomUUID()}`;
  // Before the try: a missing secret or a bad ORIGIN_URL is the edge's misconfiguration, not an
  // origin outage, and must fail loudly rather than page someone about the origin.
  const target = originTarget(env.ORIGIN_URL, new URL(call.path, 'https://edge.invalid'));
  const body = call.body !== undefined ? JSON.stringify(call.body) : undefined;
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'X-Request-Id': requestId,
    ...(await originCredentials(
      env,
      { principal: edgePrincipal(call.scope), requestId, clientIp: null },
      { method: call.method ?? 'GET', url: target, body: body ?? null },
    )),
  };
  if (call.body !== undefined) headers['Content-Type'] = 'application/json';
  const started = Date.now();
  let res: Response;
  try {
    res = await fetch(target, {
      method: call.method ?? 'GET',
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(call.timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    return {
      reached: false,
      timedOut,
      ms: Date.now() - started,
      error: timedOut ? `no answer within ${call.timeoutMs} ms` : describeError(error),
      requestId,
    };
  }
  // Time to the response headers, as the gateway's Server-Timing measures the origin.
  const ms = Date.now() - started;
  return { reached: true, status: res.status, ms, json: await readJson(res), requestId };
}

async function readJson(res: Response): Promise<unknown> {
  const type = res.headers.get('content-type') ?? '';
  const length = Number(res.headers.get('content-length') ?? 0);
  if (!/[/+]json\b/.test(type) || length > MAX_BODY_BYTES) {
    await res.body?.cancel();
    return undefined;
  }
  try {
    const text = await res.text();
    return text.length > MAX_BODY_BYTES ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
