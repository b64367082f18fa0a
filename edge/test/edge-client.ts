import { exports } from 'cloudflare:workers';
import { jwtVerify } from 'jose';
import { expect, inject } from 'vitest';
import { type RecordedRequest, recordingsPath } from './recorder-contract';

/** The Worker under test, built from wrangler.toml with the test bindings. */
export const edge = exports.default;

/** What the recording origin saw for the request the edge tagged with `requestId`. */
export async function recordedFor(requestId: string): Promise<RecordedRequest[]> {
  const res = await fetch(
    `${inject('originUrl')}${recordingsPath}${encodeURIComponent(requestId)}`,
  );
  return res.json();
}

let clients = 0;
/**
 * The request with a CF-Connecting-IP of its own (documentation range) unless it names one, as
 * Cloudflare always sets it: the burst guard runs before authentication and counts per address,
 * so tests that all came from "unknown" would share one burst budget and meet its 429.
 */
export function fromOwnAddress(init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  if (!headers.has('cf-connecting-ip'))
    headers.set('cf-connecting-ip', `2001:db8:e::${(++clients).toString(16)}`);
  return { ...init, headers };
}

/** Sends a request through the edge; returns its response, request id and what the origin saw. */
export async function send(path: string, init?: RequestInit) {
  const res = await edge.fetch(`https://edge.test${path}`, fromOwnAddress(init));
  const requestId = res.headers.get('x-request-id') ?? '';
  return { res, requestId, recorded: await recordedFor(requestId) };
}

/** The claims of the X-Edge-Assertion the origin received, verified as the origin does. */
export async function assertionClaims(recorded: RecordedRequest | undefined) {
  expect(recorded, 'the origin received the request').toBeDefined();
  const header = recorded?.headers['x-edge-assertion'];
  expect(typeof header).toBe('string');
  const { payload, protectedHeader } = await jwtVerify(
    String(header),
    new TextEncoder().encode(inject('edgeAssertionSecret')),
    {
      algorithms: ['HS256'],
      issuer: 'estate-edge-worker',
      audience: 'estate-edge-origin',
      maxTokenAge: '90s',
    },
  );
  expect(protectedHeader.alg).toBe('HS256');
  return payload as Record<string, unknown>;
}

/**
 * A refusal as the edge words it: problem+json, no-store, the challenge, and nothing forwarded
 * to the origin under this request id.
 */
export async function expectRefused(
  sent: Awaited<ReturnType<typeof send>>,
  status: 400 | 401 | 403,
  challenge: RegExp = /^Bearer realm="estate-edge"/,
) {
  const { res, requestId, recorded } = sent;
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('www-authenticate')).toMatch(challenge);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, request_id: requestId });
  expect(typeof body.detail).toBe('string');
  expect(recorded.filter((r) => !r.url.startsWith('/v1/auth/introspect-key'))).toEqual([]);
  return body;
}
