import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_ASSERTION_HEADER } from '../../contract/assertion.js';
import { createApp } from '../../origin/app.js';
import { type IdentityConfig, identityConfigFrom } from '../../origin/auth/config.js';
import { createUser } from '../../origin/auth/users.js';
import { upsertSource } from '../../origin/etl/sources.js';
import { createLogger } from '../../origin/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { assertionHeaders } from '../support/edge-assertion.js';
import {
  buildEdgeWorker,
  type EdgeBundle,
  type EdgeWorker,
  startEdgeWorker,
} from '../support/edge-worker.js';
import { feedSource, fixture, HEADER } from '../support/etl.js';
import { type OriginServer, startOriginServer } from '../support/origin-server.js';

/**
 * Issue 13, findings 8, 11 and 12, as an attacker would try them.
 * - 8: thirty wrong passwords for someone else's account, from the attacker's addresses, must
 *   not keep the owner out: sign-in is slowed per (account, address) and per address, never
 *   locked per account. Through the real origin app over PostGIS, the client address coming from
 *   the edge assertion's `cip` claim as it does behind the Worker.
 * - 12: /health/ready through the real Worker (workerd) in front of the real origin tells an
 *   anonymous caller "ok" or "degraded" and nothing else; the details (feed names, backup, disk)
 *   are for `ops:read` (an admin, the edge's own health check) and the private network.
 * - 11: `npm start` hands `wrangler dev` its secrets in a file only its user can read, never on
 *   the command line (`ps` shows every user's).
 */

const secret = randomBytes(32).toString('base64url');
const PASSWORD = 'the owner knows this one';
const FEED = 'confidential-partner-feed';

let t: TestDatabase;
afterAll(async () => {
  await t?.drop();
});
beforeAll(async () => {
  t = await createTestDatabase();
});

describe('sign-in throttling: slowed per address, never an account locked for everyone', () => {
  // Defaults, as deployed: 10 free failures per account and address, 50 per address.
  const identity = identityConfigFrom({});
  let app: ReturnType<typeof createApp>;
  const appWith = (config: IdentityConfig) =>
    createApp({
      db: t.db,
      logger: createLogger('silent'),
      identity: config,
      edgeAssertionSecret: secret,
    });

  beforeAll(async () => {
    app = appWith(identity);
    for (const email of ['owner@attack.example', 'spray@attack.example', 'burst@attack.example'])
      await createUser(t.db, { email, password: PASSWORD, role: 'user', audit: { actor: 'test' } });
  });

  /** A sign-in as the Worker forwards it: anonymous, the client's address signed in as `cip`. */
  async function signIn(
    email: string,
    password: string,
    ip: string,
    target: ReturnType<typeof createApp> = app,
  ) {
    const body = JSON.stringify({ email, password });
    const headers = await assertionHeaders(
      secret,
      { method: 'POST', path: '/v1/auth/token', body },
      {
        claims: {
          sub: 'anonymous',
          principal_type: 'anonymous',
          scope: 'listings:read stats:read tiles:read',
          plan: 'anonymous',
          cip: ip,
        },
      },
    );
    return target.request('/v1/auth/token', {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body,
    });
  }

  it('lets the owner in from a fresh address after 30 wrong passwords from the attacker, whose address gets 429', async () => {
    const statuses: number[] = [];
    // Ten from ten addresses (a small botnet), then twenty from one.
    for (let i = 0; i < 10; i++)
      statuses.push(
        (await signIn('owner@attack.example', `spray-${i}`, `198.51.100.${i + 1}`)).status,
      );
    for (let i = 0; i < 20; i++)
      statuses.push((await signIn('owner@attack.example', `guess-${i}`, '203.0.113.66')).status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);

    // The attacker's address is slowed, the right password or not: nothing is checked.
    const attacker = await signIn('owner@attack.example', PASSWORD, '203.0.113.66');
    expect(attacker.status).toBe(429);
    expect(attacker.headers.get('Content-Type')).toBe('application/problem+json');
    expect(Number(attacker.headers.get('Retry-After'))).toBeGreaterThan(0);

    const owner = await signIn('owner@attack.example', PASSWORD, '192.0.2.10');
    expect(owner.status).toBe(200);
    expect(((await owner.json()) as { access_token: string }).access_token).toBeTruthy();
  });

  it('makes the attacker wait longer after each further failure (exponential backoff)', async () => {
    const ip = '203.0.113.77';
    let res = await signIn('owner@attack.example', 'wrong-0', ip);
    for (let i = 1; res.status !== 429 && i < 50; i++)
      res = await signIn('owner@attack.example', `wrong-${i}`, ip);
    expect(res.status).toBe(429);
    const first = Number(res.headers.get('Retry-After'));
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(2);
    // Waiting the delay out buys one more guess, and the next delay is longer.
    await new Promise((resolve) => setTimeout(resolve, first * 1000 + 100));
    expect((await signIn('owner@attack.example', 'wrong-again', ip)).status).toBe(401);
    const next = await signIn('owner@attack.example', 'wrong-once-more', ip);
    expect(next.status).toBe(429);
    expect(Number(next.headers.get('Retry-After'))).toBeGreaterThan(first);
  });

  it('gives a burst sent all at once no more guesses than the allowance', async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        signIn('burst@attack.example', `burst-${i}`, '203.0.113.88'),
      ),
    );
    const guesses = answers.filter((r) => r.status === 401).length;
    expect(answers.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    // The allowance is 10; before, all 30 were checked (each read "0 failures" before any landed).
    expect(guesses).toBeLessThanOrEqual(identity.loginLimits.perAccount);
  });

  it('keeps the owner able to sign in while a botnet passes the account-wide ceiling', async () => {
    // A ceiling of 10 failures over all addresses: twenty addresses, one guess each, pass it.
    const strict = appWith({
      ...identity,
      loginLimits: { ...identity.loginLimits, accountWide: 10, accountPauseMs: 100 },
    } as IdentityConfig);
    for (let i = 0; i < 20; i++) {
      const res = await signIn('spray@attack.example', `bot-${i}`, `100.64.0.${i + 1}`, strict);
      expect([401, 429]).toContain(res.status);
    }
    const owner = await signIn('spray@attack.example', PASSWORD, '192.0.2.20', strict);
    expect(owner.status).toBe(200);
  });
});

describe('/health/ready through the edge: status for everyone, details for ops:read', () => {
  const identity = identityConfigFrom({});
  const admin = { email: 'ops-admin@attack.example', password: 'a long enough passphrase' };
  let bundle: EdgeBundle;
  let origin: OriginServer;
  let edge: EdgeWorker;

  beforeAll(async () => {
    bundle = await buildEdgeWorker();
    await createUser(t.db, { ...admin, role: 'admin', audit: { actor: 'test' } });
    await upsertSource(t.db, {
      ...feedSource(FEED, fixture(`${HEADER}\n`)),
      schedule: '0 * * * *',
    });
    origin = await startOriginServer(
      createApp({
        db: t.db,
        logger: createLogger('silent'),
        identity,
        edgeAssertionSecret: secret,
      }),
    );
    edge = await startEdgeWorker({
      bundle,
      originUrl: origin.url,
      edgeAssertionSecret: secret,
      issuer: identity.issuer,
      audience: identity.audience,
      vars: { CACHE_RULES: [] },
    });
  });
  afterAll(async () => {
    await edge?.stop();
    await origin?.stop();
    await bundle?.dispose();
  });

  it('tells an anonymous caller the status only: no feed names, backup or disk', async () => {
    const res = await edge.fetch('/health/ready');
    expect([200, 503]).toContain(res.status);
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['status']);
    expect(['ok', 'degraded']).toContain(body.status);
    for (const leak of [FEED, 'backup', 'disk', 'free_bytes', 'sources', 'problems'])
      expect(text).not.toContain(leak);
  });

  it('shows the details to an admin (ops:read) through the edge', async () => {
    const signIn = await edge.fetch('/v1/auth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(admin),
    });
    expect(signIn.status).toBe(200);
    const { access_token } = (await signIn.json()) as { access_token: string };
    const res = await edge.fetch('/health/ready', {
      headers: { Authorization: `Bearer ${access_token}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      checks: { etl: { sources: { name: string }[] }; disk: { status: string }; backup: object };
    };
    expect(body.checks.etl.sources.map((s) => s.name)).toContain(FEED);
    expect(body.checks.disk.status).toBeTruthy();
    expect(body.checks.backup).toBeTruthy();
  });

  it('keeps the details for the edge health check (ops:read) and the private network (no assertion)', async () => {
    const edgeCheck = await fetch(`${origin.url}/health/ready`, {
      headers: await assertionHeaders(
        secret,
        { path: '/health/ready' },
        { claims: { sub: 'edge', principal_type: 'edge', scope: 'ops:read', plan: 'admin' } },
      ),
    });
    expect(((await edgeCheck.json()) as { checks?: unknown }).checks).toBeDefined();
    const probe = await fetch(`${origin.url}/health/ready`);
    expect(((await probe.json()) as { checks?: unknown }).checks).toBeDefined();
    // A user without ops:read, and an assertion that does not verify: status only.
    const user = await fetch(`${origin.url}/health/ready`, {
      headers: await assertionHeaders(
        secret,
        { path: '/health/ready' },
        { claims: { scope: 'listings:read', plan: 'standard' } },
      ),
    });
    expect(Object.keys((await user.json()) as object)).toEqual(['status']);
    const forged = await fetch(`${origin.url}/health/ready`, {
      headers: await assertionHeaders('x'.repeat(40), { path: '/health/ready' }),
    });
    expect(Object.keys((await forged.json()) as object)).toEqual(['status']);
  });
});

describe('npm start keeps secrets off the command line', () => {
  const assertionSecret = `assert-${randomBytes(24).toString('base64url')}`;
  const quotaToken = `quota-${randomBytes(24).toString('base64url')}`;

  it('builds wrangler dev arguments without a secret, the secrets in a 0600 file it removes', async () => {
    const { prepareWranglerDev } = await import('../../scripts/wrangler-dev.js');
    const launch = prepareWranglerDev({
      ip: '127.0.0.1',
      port: 8787,
      vars: { ORIGIN_URL: 'http://127.0.0.1:3000' },
      secrets: { EDGE_ASSERTION_SECRET: assertionSecret, UPSTASH_REDIS_REST_TOKEN: quotaToken },
    });
    try {
      const argv = [launch.command, ...launch.args].join('\n');
      expect(argv).not.toContain(assertionSecret);
      expect(argv).not.toContain(quotaToken);
      expect(argv).not.toContain('EDGE_ASSERTION_SECRET');
      expect(statSync(launch.secretsFile).mode & 0o777).toBe(0o600);
      const contents = readFileSync(launch.secretsFile, 'utf8');
      expect(contents).toContain(assertionSecret);
      expect(contents).toContain(quotaToken);
    } finally {
      launch.dispose();
    }
    expect(() => statSync(launch.secretsFile)).toThrow();
  });

  it('starts wrangler dev whose processes show no secret in /proc/<pid>/cmdline, and the Worker signs with it', async () => {
    const { prepareWranglerDev } = await import('../../scripts/wrangler-dev.js');
    // A stand-in origin that keeps the assertion the Worker sends.
    const assertions: string[] = [];
    const fakeOrigin = createServer((req, res) => {
      const a = req.headers[EDGE_ASSERTION_HEADER.toLowerCase()];
      if (typeof a === 'string') assertions.push(a);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ version: 1, changed_at: new Date().toISOString() }));
    });
    fakeOrigin.listen(0, '127.0.0.1');
    await once(fakeOrigin, 'listening');
    const port = await freePort();
    const persist = await mkdtemp(join(tmpdir(), 'estate-edge-wrangler-'));
    const launch = prepareWranglerDev({
      ip: '127.0.0.1',
      port,
      vars: { ORIGIN_URL: `http://127.0.0.1:${(fakeOrigin.address() as AddressInfo).port}` },
      secrets: { EDGE_ASSERTION_SECRET: assertionSecret, UPSTASH_REDIS_REST_TOKEN: quotaToken },
      extraArgs: [
        '--show-interactive-dev-session=false',
        '--inspector-port',
        String(await freePort()),
        '--persist-to',
        persist,
      ],
    });
    const child = spawn(launch.command, launch.args, {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { ...process.env, ...launch.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      const ready = new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          out += chunk.toString();
          if (/Ready on/.test(out)) resolve();
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        child.once('exit', (code) => reject(new Error(`wrangler dev exited (${code}):\n${out}`)));
      });
      await Promise.race([
        ready,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`not ready:\n${out}`)), 45_000),
        ),
      ]);
      const pids = [child.pid as number, ...descendants(child.pid as number)];
      expect(pids.length).toBeGreaterThan(1);
      for (const pid of pids) {
        let cmdline: string;
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue; // exited in between
        }
        expect(cmdline).not.toContain(assertionSecret);
        expect(cmdline).not.toContain(quotaToken);
      }
      // The Worker did get the secret: it signs its assertion to the origin with it.
      const res = await fetch(`http://127.0.0.1:${port}/v1/listings?limit=1`);
      await res.body?.cancel();
      expect(assertions.length).toBeGreaterThan(0);
      await jwtVerify(assertions.at(-1) as string, new TextEncoder().encode(assertionSecret));
    } finally {
      child.kill('SIGINT');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      launch.dispose();
      fakeOrigin.close();
      await rm(persist, { recursive: true, force: true });
    }
  }, 90_000);
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every process below `pid`, from /proc (Linux). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift() as number) ?? []) {
      found.push(c);
      queue.push(c);
    }
  }
  return found;
}
