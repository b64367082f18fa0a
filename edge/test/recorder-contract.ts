// What the recording origin (recording-origin.ts, run by Vitest's globalSetup in Node) and the
// tests (in workerd) agree on. Nothing here may import Node or Worker APIs.

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the recording server that stands in for the origin. */
    originUrl: string;
    /** A 127.0.0.1 URL on which nothing listens: connections are refused. */
    closedOriginUrl: string;
    /** EDGE_ASSERTION_SECRET shared by the Worker under test and the recording origin. */
    edgeAssertionSecret: string;
    /**
     * Private JWKs (with `kid` and `alg`) generated with jose for this run. `es256` and `ed25519`
     * are published in the recording origin's /.well-known/jwks.json; `impostor` is not, but
     * carries the same `kid` as `es256` ("a valid token from another key").
     */
    signingKeys: { es256: TestJwk; ed25519: TestJwk; impostor: TestJwk };
    /** The REST adapter in front of the run's private Redis (quota-store.ts). */
    quotaStoreUrl: string;
    /** The same adapter 40 ms away, behind a delay proxy (scripts/lib/delay-proxy.ts). */
    farQuotaStoreUrl: string;
    /** A REST adapter whose Redis is unreachable: every command fails. */
    deadQuotaStoreUrl: string;
    quotaStoreToken: string;
  }
}

/** What the stand-in origin saw of one request. */
export type RecordedRequest = {
  method: string;
  /** Path and query exactly as they arrived on the wire. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
};

/** `GET <originUrl>/__recordings/<request id>` returns the RecordedRequest[] for that id. */
export const recordingsPath = '/__recordings/';

/** A JSON Web Key as Node's and workerd's WebCrypto export it (structured-clone safe). */
export type TestJwk = { kty: string; kid: string; alg: string; [member: string]: string };

/** Where the recording origin answers API-key lookups, as the real origin does. */
export const introspectionPath = '/v1/auth/introspect-key';

/**
 * What the recording origin says about an API key, decided by the first letter of its 8-character
 * lookup prefix: `r` read scopes (plan standard), `a` every scope (plan pro), `x` revoked (401),
 * anything else unknown (401).
 */
export const testApiKeyKinds = { read: 'r', admin: 'a', revoked: 'x' } as const;

export const testReadScopes = 'listings:read stats:read tiles:read';
export const testAdminScopes =
  'listings:read stats:read tiles:read etl:read etl:run etl:admin keys:write keys:admin users:admin audit:read';

/** A well-formed key of that kind, unique per call (so each test starts with a cold cache). */
export function testApiKey(kind: keyof typeof testApiKeyKinds): string {
  const unique = crypto.randomUUID().replaceAll('-', '');
  const prefix = `${testApiKeyKinds[kind]}${unique.slice(0, 7)}`;
  return `ee_live_${prefix}_${unique}${'k'.repeat(43 - unique.length)}`;
}

/**
 * How the recording origin answers under `/scenario/<id>/` (set with `POST /__scenario/<id>`):
 * `GET /__scenario/<id>` reports `{ hits, aborted, paths }`.
 */
export type ScenarioBehaviour = {
  status?: number;
  delayMs?: number;
  /** Drop the connection without answering. */
  destroy?: boolean;
  /** Served at `/scenario/<id>/health/data-version`; unset answers 404 there. */
  dataVersion?: number;
  /** How long the data-version endpoint takes to answer (an origin far away, or slow). */
  dataVersionDelayMs?: number;
  cacheControl?: string;
  setCookie?: string;
  etag?: string;
  /** Echoed in every body, to tell answers from before and after a change. */
  label?: string;
  /**
   * Fixed answers by `METHOD /path` (path without the query), e.g. `'GET /health/ready'`: a
   * stand-in for the origin's readiness and ETL API (edge/scheduled). `delayMs` and `destroy`
   * still apply; a path not listed answers as above.
   */
  routes?: Record<string, ScenarioRoute>;
};

export type ScenarioRoute = { status?: number; body?: unknown };

/** What a scenario received, with the scope of the edge assertion it carried (null: none valid). */
export type ScenarioRequest = { method: string; path: string; body: string; scope: string | null };

export type ScenarioCounts = {
  hits: number;
  aborted: number;
  paths: string[];
  requests: ScenarioRequest[];
};

/**
 * A stand-in for Slack or any alert webhook: `POST /__webhook/<id>` is a delivery, recorded and
 * answered 200 (or the configured failure); `POST /__webhook-control/<id>` with a
 * WebhookBehaviour configures it; `GET /__webhook-control/<id>` returns its WebhookLog.
 */
export const webhookPath = '/__webhook/';
export const webhookControlPath = '/__webhook-control/';

export type WebhookBehaviour = {
  /** Answer the next `fail` deliveries with `status` (default 503) instead of 200. */
  fail?: number;
  status?: number;
};

export type WebhookAttempt = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
};

/** Every attempt in arrival order, failed ones included. */
export type WebhookLog = { attempts: WebhookAttempt[] };
