import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, jwtVerify } from 'jose';
import type { TestProject } from 'vitest/node';
import {
  introspectionPath,
  type RecordedRequest,
  recordingsPath,
  type ScenarioBehaviour,
  type ScenarioRequest,
  type TestJwk,
  testAdminScopes,
  testApiKeyKinds,
  testReadScopes,
  type WebhookAttempt,
  type WebhookBehaviour,
  webhookControlPath,
  webhookPath,
} from './recorder-contract';

/**
 * Vitest globalSetup for the edge project. Starts a small HTTP server on 127.0.0.1 that stands
 * in for the Node origin: it records every request by its X-Request-Id and answers 200, so
 * tests assert on what really crossed the wire. Also hands out a URL on which nothing listens,
 * for the unreachable-origin tests.
 *
 * Special paths: `GET /__recordings/<request id>` returns the recordings for that id;
 * `/status/<code>` answers with that status; `/slow/<ms>` waits before sending headers;
 * `/__webhook/<id>` records alert deliveries (recorder-contract.ts says how to steer and read it).
 *
 * Identity, as the real origin does it, from keys generated here with jose: `GET
 * /.well-known/jwks.json` serves the public keys and `POST /v1/auth/introspect-key` answers API-key
 * lookups (recorder-contract.ts says which keys are valid). Both require a valid edge assertion,
 * so a Worker that does not sign its own requests fails the tests that use them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const recordings = new Map<string, RecordedRequest[]>();
  const secret = randomBytes(32).toString('base64url');
  const es256 = await testKey('ES256', 'test-es256');
  const ed25519 = await testKey('EdDSA', 'test-ed25519');
  const impostor = await testKey('ES256', 'test-es256');
  const jwks = { keys: [es256.publicJwk, ed25519.publicJwk] };

  const scenarios = new Map<string, Scenario>();
  const scenario = (id: string): Scenario => {
    let found = scenarios.get(id);
    if (!found) {
      found = { behaviour: {}, hits: 0, aborted: 0, paths: [], requests: [] };
      scenarios.set(id, found);
    }
    return found;
  };

  const webhooks = new Map<string, { behaviour: WebhookBehaviour; attempts: WebhookAttempt[] }>();
  const webhook = (id: string) => {
    let found = webhooks.get(id);
    if (!found) {
      found = { behaviour: {}, attempts: [] };
      webhooks.set(id, found);
    }
    return found;
  };

  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && req.url?.startsWith(recordingsPath)) {
      const id = decodeURIComponent(req.url.slice(recordingsPath.length));
      return json(res, 200, recordings.get(id) ?? []);
    }
    const isControl = req.url?.startsWith(webhookControlPath) ?? false;
    if (isControl || req.url?.startsWith(webhookPath)) {
      const id = (req.url ?? '').slice((isControl ? webhookControlPath : webhookPath).length);
      if (!/^[\w-]+$/.test(id)) return json(res, 404, { detail: 'no such webhook' });
      const w = webhook(id);
      const body = await readBody(req);
      if (isControl && req.method === 'POST') w.behaviour = JSON.parse(body) as WebhookBehaviour;
      if (isControl) return json(res, 200, { attempts: w.attempts });
      const failing = (w.behaviour.fail ?? 0) > 0;
      if (failing) w.behaviour.fail = (w.behaviour.fail ?? 0) - 1;
      const status = failing ? (w.behaviour.status ?? 503) : 200;
      w.attempts.push({ status, headers: req.headers, body });
      return json(res, status, { ok: !failing });
    }
    const control = /^\/__scenario\/([\w-]+)$/.exec(req.url ?? '');
    if (control?.[1]) {
      const s = scenario(control[1]);
      if (req.method === 'POST') s.behaviour = JSON.parse(await readBody(req)) as ScenarioBehaviour;
      const { behaviour: _, ...counts } = s;
      return json(res, 200, counts);
    }
    let url = req.url ?? '/';
    const scoped = /^\/scenario\/([\w-]+)(\/.*)$/.exec(url);
    if (scoped?.[1] && scoped[2]) {
      // Identity stays the recorder's own, so tokens and API keys work against any scenario.
      if (scoped[2] === '/.well-known/jwks.json' || scoped[2] === introspectionPath)
        url = scoped[2];
      else return playScenario(scenario(scoped[1]), scoped[2], req, res, secret);
    }

    const body = await readBody(req);
    const id = String(req.headers['x-request-id'] ?? 'missing');
    recordings.set(id, [
      ...(recordings.get(id) ?? []),
      { method: req.method ?? '', url, headers: req.headers, body },
    ]);

    if (url === '/.well-known/jwks.json' || url === introspectionPath) {
      const assertion = await verifyEdgeAssertion(req.headers['x-edge-assertion'], secret);
      if (!assertion) return json(res, 401, { detail: 'no valid edge assertion' });
      if (url === '/.well-known/jwks.json') return json(res, 200, jwks);
      if (req.method !== 'POST' || !assertion.scope.split(' ').includes('keys:introspect'))
        return json(res, 403, { detail: 'needs keys:introspect' });
      return introspect(res, body);
    }

    const slow = /^\/slow\/(\d+)/.exec(url);
    if (slow) await new Promise((resolve) => setTimeout(resolve, Number(slow[1])));
    const status = /^\/status\/(\d{3})/.exec(url);
    // Keep-Alive is hop-by-hop: the edge must drop it before the client sees the response.
    res.setHeader('Keep-Alive', 'timeout=5');
    res.setHeader('X-Origin', 'recorder');
    return json(res, status ? Number(status[1]) : 200, { recorded: true });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  project.provide('originUrl', `http://127.0.0.1:${port}`);
  project.provide('closedOriginUrl', `http://127.0.0.1:${await freedPort()}`);
  project.provide('edgeAssertionSecret', secret);
  project.provide('signingKeys', {
    es256: es256.privateJwk,
    ed25519: ed25519.privateJwk,
    impostor: impostor.privateJwk,
  });

  return async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
}

type Scenario = {
  behaviour: ScenarioBehaviour;
  /** Requests that reached the scenario (the data-version endpoint not counted). */
  hits: number;
  /** Requests whose client (the edge) hung up before the answer was sent. */
  aborted: number;
  paths: string[];
  requests: ScenarioRequest[];
};

/**
 * A stand-in origin under `/scenario/<id>/...`, steered by the test through
 * `POST /__scenario/<id>` (the Worker gets ORIGIN_URL = `<originUrl>/scenario/<id>`). Each test
 * uses its own id, so test files running at once do not see each other's traffic.
 */
async function playScenario(
  s: Scenario,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  secret: string,
): Promise<void> {
  const b = s.behaviour;
  if (path === '/health/data-version') {
    if (b.dataVersion === undefined) return json(res, 404, { detail: 'no data version' });
    if (b.dataVersionDelayMs) await new Promise((r) => setTimeout(r, b.dataVersionDelayMs));
    return json(res, 200, { version: b.dataVersion, changed_at: new Date().toISOString() });
  }
  s.hits += 1;
  s.paths.push(path);
  const body = await readBody(req);
  const assertion = await verifyEdgeAssertion(req.headers['x-edge-assertion'], secret);
  s.requests.push({ method: req.method ?? '', path, body, scope: assertion?.scope ?? null });
  let finished = false;
  res.on('close', () => {
    if (!finished) s.aborted += 1;
  });
  if (b.delayMs) await new Promise((resolve) => setTimeout(resolve, b.delayMs));
  if (res.destroyed) return;
  if (b.destroy) {
    req.socket.destroy();
    return;
  }
  const route = b.routes?.[`${req.method} ${path.split('?')[0]}`];
  if (route) {
    finished = true;
    return json(res, route.status ?? 200, route.body ?? null);
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (b.cacheControl) headers['Cache-Control'] = b.cacheControl;
  if (b.setCookie) headers['Set-Cookie'] = b.setCookie;
  if (b.etag) headers.ETag = b.etag;
  res.writeHead(b.status ?? 200, headers);
  finished = true;
  res.end(JSON.stringify({ path, hit: s.hits, label: b.label ?? null }));
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A port that was free a moment ago and is closed now, so connecting to it is refused. */
async function freedPort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

async function testKey(alg: 'ES256' | 'EdDSA', kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg } as TestJwk;
  return { publicJwk, privateJwk };
}

/** The claims of a valid edge assertion, or null: the same checks as the real origin. */
async function verifyEdgeAssertion(
  header: string | string[] | undefined,
  secret: string,
): Promise<{ sub: string; scope: string } | null> {
  if (typeof header !== 'string') return null;
  try {
    const { payload } = await jwtVerify(header, new TextEncoder().encode(secret), {
      algorithms: ['HS256'],
      issuer: 'estate-edge-worker',
      audience: 'estate-edge-origin',
      maxTokenAge: '90s',
    });
    return { sub: String(payload.sub), scope: String(payload.scope ?? '') };
  } catch {
    return null;
  }
}

/** Answers like origin/routes/auth/introspect-key.ts, deciding by the key's prefix. */
function introspect(res: ServerResponse, body: string): void {
  json(res, ...introspection(body));
}

function introspection(body: string): [number, unknown] {
  let key = '';
  try {
    key = String((JSON.parse(body) as { key?: unknown }).key ?? '');
  } catch {
    return [400, { detail: 'body is not JSON' }];
  }
  const prefix = /^ee_live_([a-z0-9]{8})_/.exec(key)?.[1] ?? '';
  const kind = prefix[0];
  if (kind === testApiKeyKinds.read || kind === testApiKeyKinds.admin) {
    const admin = kind === testApiKeyKinds.admin;
    return [
      200,
      {
        principal: `api_key:${prefix}`,
        owner: 'user:2',
        scope: admin ? testAdminScopes : testReadScopes,
        plan: admin ? 'pro' : 'standard',
        expires_at: null,
      },
    ];
  }
  return [401, { detail: 'the API key is unknown, revoked or expired' }];
}
