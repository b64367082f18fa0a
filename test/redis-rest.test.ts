import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis as UpstashRedis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../scripts/lib/redis-server.js';
import { type RedisRest, startRedisRest } from '../scripts/redis-rest/server.js';

/**
 * The Upstash REST adapter (scripts/redis-rest/) against a private, real redis-server, driven by
 * the very clients the edge Worker uses: `@upstash/redis` and `@upstash/ratelimit`.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = `test-token-${randomBytes(12).toString('hex')}`;
// Everything any adapter logged during this file: the token must never be in it.
const logged: string[] = [];
const log = (line: string) => logged.push(line);

let redisServer: RedisServer;
let rest: RedisRest;
beforeAll(async () => {
  redisServer = await startRedisServer();
  rest = await startRedisRest({ redisUrl: redisServer.url, token: TOKEN, log });
});
afterAll(async () => {
  await rest?.close();
  await redisServer?.stop();
  expect(logged.join('\n')).not.toContain(TOKEN);
});

type Reply = { status: number; body: unknown; headers: Headers };

/** A raw request to the adapter, so the wire format itself is under test. */
async function call(
  path: string,
  body?: unknown,
  init: { method?: string; token?: string | null; headers?: Record<string, string> } = {},
  base = rest.url,
): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), headers: response.headers };
}

function client(options: { base64: boolean; autoPipelining: boolean }, url = rest.url) {
  return new UpstashRedis({
    url,
    token: TOKEN,
    responseEncoding: options.base64 ? 'base64' : false,
    enableAutoPipelining: options.autoPipelining,
    enableTelemetry: false,
    retry: false,
  });
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
const key = (name: string) => `${name}:${randomBytes(4).toString('hex')}`;

describe.each([
  { name: 'base64 with auto-pipelining (the client default)', base64: true, autoPipelining: true },
  { name: 'base64, one request per command', base64: true, autoPipelining: false },
  { name: 'plain JSON, one request per command', base64: false, autoPipelining: false },
])('@upstash/redis through the adapter: $name', (options) => {
  const redis = () => client(options);

  it('sets, gets, increments and expires keys', async () => {
    const k = key('counter');
    expect(await redis().set(k, 'v')).toBe('OK');
    expect(await redis().get(k)).toBe('v');
    expect(await redis().get(key('missing'))).toBeNull();
    expect(await redis().incr(`${k}:n`)).toBe(1);
    expect(await redis().incrby(`${k}:n`, 41)).toBe(42);
    expect(await redis().expire(`${k}:n`, 100)).toBe(1);
    const ttl = await redis().ttl(`${k}:n`);
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
    expect(await redis().set(k, 'w', { nx: true })).toBeNull();
  });

  it('keeps JSON values, hashes and non-ASCII text exactly as the client wrote them', async () => {
    const k = key('json');
    const value = { city: 'Zürich', price: 1_250_000, tags: ['🏠', 'view'], nested: { a: null } };
    await redis().set(k, value);
    expect(await redis().get(k)).toEqual(value);
    await redis().hset(`${k}:h`, { beds: 3, name: 'Chalet «Ω»' });
    expect(await redis().hgetall(`${k}:h`)).toEqual({ beds: 3, name: 'Chalet «Ω»' });
    expect(await redis().hget(`${k}:h`, 'name')).toBe('Chalet «Ω»');
    expect(await redis().hget(`${k}:h`, 'nope')).toBeNull();
    await redis().rpush(`${k}:l`, 'a', 'b', 'ç');
    expect(await redis().lrange(`${k}:l`, 0, -1)).toEqual(['a', 'b', 'ç']);
  });

  it('runs a pipeline and a transaction with every result in order', async () => {
    const k = key('pipe');
    const pipeline = redis().pipeline();
    pipeline.set(k, 1).incr(k).get(k).hset(`${k}:h`, { f: 'x' }).hgetall(`${k}:h`);
    expect(await pipeline.exec()).toEqual(['OK', 2, 2, 1, { f: 'x' }]);
    const transaction = redis().multi();
    transaction.incr(k).incr(k).get(k);
    expect(await transaction.exec()).toEqual([3, 4, 4]);
  });

  it('runs EVAL and EVALSHA, and EVALSHA of an unknown script fails with NOSCRIPT', async () => {
    const k = key('lua');
    const script = `redis.call('SET', KEYS[1], ARGV[1]) return {KEYS[1], ARGV[1], 7, {'x'}}`;
    expect(await redis().eval(script, [k], ['hé'])).toEqual([k, 'hé', 7, ['x']]);
    const sha = await redis().scriptLoad(script);
    expect(sha).toBe(sha1(script));
    expect(await redis().evalsha(sha, [k], ['again'])).toEqual([k, 'again', 7, ['x']]);
    await expect(redis().evalsha('0'.repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
  });

  it('turns a Redis error into a thrown error that carries Redis’s message', async () => {
    const k = key('wrongtype');
    await redis().set(k, 'text');
    await expect(redis().hget(k, 'f')).rejects.toThrow(/WRONGTYPE/);
  });
});

describe('the wire format', () => {
  it('answers a command with {result}, base64 for every string when asked', async () => {
    const k = key('wire');
    expect(await call('/', ['SET', k, 'héllo'])).toMatchObject({
      status: 200,
      body: { result: 'OK' },
    });
    expect((await call('/', ['GET', k])).body).toEqual({ result: 'héllo' });
    const encoded = await call('/', ['GET', k], { headers: { 'Upstash-Encoding': 'base64' } });
    expect(encoded.body).toEqual({ result: Buffer.from('héllo').toString('base64') });
    expect(encoded.headers.get('content-type')).toBe('application/json');
    await call('/', ['HSET', `${k}:h`, 'f', 'v']);
    // HGETALL as Redis (and Upstash) send it: a flat array, not an object.
    expect((await call('/', ['HGETALL', `${k}:h`])).body).toEqual({ result: ['f', 'v'] });
    const nested = await call('/', ['EVAL', "return {1, 'a', {'b', 2}}", '0'], {
      headers: { 'Upstash-Encoding': 'base64' },
    });
    expect(nested.body).toEqual({ result: [1, 'YQ==', ['Yg==', 2]] });
    expect((await call('/', ['GET', key('none')])).body).toEqual({ result: null });
  });

  it('answers a Redis error with 400 and {error}, and a pipeline with one entry per command', async () => {
    const k = key('errors');
    await call('/', ['SET', k, 'text']);
    expect(await call('/', ['LPUSH', k, 'x'])).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^WRONGTYPE/) },
    });
    expect(await call('/', ['NOSUCHCOMMAND'])).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/unknown command/) },
    });
    const pipeline = await call('/pipeline', [
      ['GET', k],
      ['LPUSH', k, 'x'],
      ['STRLEN', k],
    ]);
    expect(pipeline).toMatchObject({
      status: 200,
      body: [{ result: 'text' }, { error: expect.stringMatching(/^WRONGTYPE/) }, { result: 4 }],
    });
  });

  it('discards a whole transaction when one command cannot be queued, and says which', async () => {
    const k = key('tx');
    const reply = await call('/multi-exec', [['SET', k, '1'], ['GET']]);
    expect(reply).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^EXECABORT.*command 2: ERR wrong number/) },
    });
    expect((await call('/', ['EXISTS', k])).body).toEqual({ result: 0 });
    // A command failing at run time fails alone, as in Redis.
    await call('/', ['SET', k, 'text']);
    expect(
      (
        await call('/multi-exec', [
          ['INCR', k],
          ['GET', k],
        ])
      ).body,
    ).toEqual([{ error: expect.stringMatching(/not an integer/) }, { result: 'text' }]);
  });

  it('keeps concurrent transactions whole: no other request lands inside MULTI … EXEC', async () => {
    const k = key('concurrent');
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? call('/multi-exec', [
              ['SET', `${k}:${i}`, String(i)],
              ['INCR', `${k}:${i}`],
              ['GET', `${k}:${i}`],
            ])
          : call('/', ['SET', `${k}:${i - 1}`, 'intruder']),
      ),
    );
    replies.forEach((reply, i) => {
      if (i % 2 === 0) {
        expect(reply.body).toEqual([
          { result: 'OK' },
          { result: i + 1 },
          { result: String(i + 1) },
        ]);
      } else expect(reply.body).toEqual({ result: 'OK' });
    });
  });

  it('takes the path form: GET /set/k/v, and POST /set/k with the value as the body', async () => {
    const k = key('path');
    expect((await call(`/set/${k}/hello%20world`, undefined, { method: 'GET' })).body).toEqual({
      result: 'OK',
    });
    expect((await call(`/get/${k}`, undefined, { method: 'GET' })).body).toEqual({
      result: 'hello world',
    });
    expect((await call(`/set/${k}`, 'from the body')).body).toEqual({ result: 'OK' });
    expect(
      (await call(`/GET/${encodeURIComponent(k)}`, undefined, { method: 'GET' })).body,
    ).toEqual({ result: 'from the body' });
  });
});

describe('@upstash/ratelimit through the adapter', () => {
  const WINDOW_MS = 10_000;
  const limiter = (prefix: string) =>
    new Ratelimit({
      redis: client({ base64: true, autoPipelining: true }),
      limiter: Ratelimit.slidingWindow(5, '10 s'),
      prefix,
      analytics: false,
      // Off so every call reaches Redis: the point is the adapter, not the client's cache.
      ephemeralCache: false,
    });

  // A sliding window weighs the previous 10 s bucket; starting right after a bucket boundary
  // keeps all six calls in one bucket, so the expected counts are exact.
  async function startOfWindow() {
    const intoWindow = Date.now() % WINDOW_MS;
    if (intoWindow > WINDOW_MS - 2_000) await sleep(WINDOW_MS - intoWindow + 50);
  }

  it('lets five requests through a 5-per-10 s sliding window and refuses the sixth', async () => {
    const ratelimit = limiter(key('rl'));
    await startOfWindow();
    for (let i = 1; i <= 5; i++) {
      const result = await ratelimit.limit('alice');
      expect(result).toMatchObject({ success: true, limit: 5, remaining: 5 - i });
    }
    const now = Date.now();
    const sixth = await ratelimit.limit('alice');
    expect(sixth).toMatchObject({ success: false, limit: 5, remaining: 0 });
    // Reset is the end of the current 10 s bucket.
    expect(sixth.reset % WINDOW_MS).toBe(0);
    expect(sixth.reset).toBeGreaterThan(now);
    expect(sixth.reset).toBeLessThanOrEqual(now + WINDOW_MS);
    await sixth.pending;
  });

  it('counts two identifiers separately', async () => {
    const ratelimit = limiter(key('rl'));
    await startOfWindow();
    for (let i = 0; i < 5; i++) await ratelimit.limit('alice');
    expect((await ratelimit.limit('alice')).success).toBe(false);
    expect(await ratelimit.limit('bob')).toMatchObject({ success: true, remaining: 4 });
  });

  it('recovers from a flushed script cache: EVALSHA fails with NOSCRIPT, the limiter falls back to EVAL', async () => {
    const ratelimit = limiter(key('rl'));
    await startOfWindow();
    expect(await ratelimit.limit('carol')).toMatchObject({ success: true, remaining: 4 });
    expect((await call('/', ['SCRIPT', 'FLUSH'])).body).toEqual({ result: 'OK' });
    expect(await ratelimit.limit('carol')).toMatchObject({ success: true, remaining: 3 });
  });

  it('accepts the Upstash-only allow-key-locking script flag, under the SHA the client computed', async () => {
    // Redis itself refuses this flag; the ratelimit scripts all carry it.
    const script = '#!lua flags=no-writes,allow-key-locking\nreturn ARGV[1]';
    const redis = client({ base64: true, autoPipelining: false });
    expect(await redis.scriptLoad(script)).toBe(sha1(script));
    expect(await redis.scriptExists(sha1(script))).toEqual([1]);
    expect(await redis.evalsha(sha1(script), [], ['ok'])).toBe('ok');
    expect(await redis.eval('#!lua flags=allow-key-locking\nreturn 5', [], [])).toBe(5);
  });
});

describe('authentication', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer not-the-token' }],
    ['the token with one character more', { authorization: `Bearer ${TOKEN}x` }],
    ['the token with one character less', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['the token under another scheme', { authorization: `Basic ${TOKEN}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('answers 401 to %s, and runs nothing', async (_, headers) => {
    const k = key('unauthorized');
    const reply = await call('/', ['SET', k, 'x'], { token: null, headers });
    expect(reply).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
    expect(reply.headers.get('www-authenticate')).toBe('Bearer');
    expect(await call('/pipeline', [['SET', k, 'x']], { token: null, headers })).toMatchObject({
      status: 401,
    });
    expect((await call('/', ['EXISTS', k])).body).toEqual({ result: 0 });
  });

  it('accepts the scheme in any case, as RFC 9110 says', async () => {
    const reply = await call('/', ['PING'], {
      token: null,
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(reply).toMatchObject({ status: 200, body: { result: 'PONG' } });
  });

  it('makes @upstash/redis throw with a wrong token', async () => {
    const redis = new UpstashRedis({ url: rest.url, token: 'wrong', retry: false });
    await expect(redis.get('k')).rejects.toThrow(/Unauthorized/);
  });
});

describe('hostile input', () => {
  it.each([
    ['malformed JSON', '["SET", "k"', /not valid JSON/],
    ['an empty body', '', /body is empty/],
    ['an object', '{"command": "GET"}', /must be a JSON array/],
    ['a string', '"GET k"', /must be a JSON array/],
    ['an empty array', '[]', /empty command/],
    ['a number as the command name', '[1, "k"]', /command name must be a non-empty string/],
    ['an empty command name', '["", "k"]', /command name must be a non-empty string/],
    ['a null argument', '["SET", "k", null]', /argument 2 is null/],
    ['an object argument', '["SET", "k", {"a": 1}]', /argument 2 is object/],
    ['a nested array argument', '["SET", "k", ["v"]]', /argument 2 is an array/],
    ['100,000 nested arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, /command name/],
  ])('answers 400 with a clear message to %s', async (_, body, message) => {
    const reply = await call('/', body);
    expect(reply).toMatchObject({ status: 400, body: { error: expect.stringMatching(message) } });
  });

  it.each([
    ['a command that is not an array', '[["PING"], "PING"]', /command 2 must be a JSON array/],
    ['an empty pipeline', '[]', /pipeline is empty/],
    ['a command with an object argument', '[["PING"], ["SET", "k", {}]]', /command 2: argument 2/],
  ])('refuses a whole pipeline holding %s, and runs none of it', async (_, body, message) => {
    const k = key('pipeline');
    const withFirst = body.replace('["PING"]', JSON.stringify(['SET', k, 'ran']));
    for (const path of ['/pipeline', '/multi-exec']) {
      const reply = await call(path, withFirst);
      expect(reply).toMatchObject({ status: 400, body: { error: expect.stringMatching(message) } });
    }
    expect((await call('/', ['EXISTS', k])).body).toEqual({ result: 0 });
  });

  it('stores booleans and numbers as Redis would, since @upstash/redis sends them raw', async () => {
    const k = key('scalars');
    await call('/', ['MSET', `${k}:a`, true, `${k}:b`, 1.5]);
    expect((await call('/', ['MGET', `${k}:a`, `${k}:b`])).body).toEqual({
      result: ['true', '1.5'],
    });
  });

  it('answers 413 to a body over the limit, whether its length is declared or streamed', async () => {
    const small = await startRedisRest({
      redisUrl: redisServer.url,
      token: TOKEN,
      maxBodyBytes: 1024,
      log,
    });
    try {
      const value = 'x'.repeat(2048);
      expect(await call('/', ['SET', 'big', value], {}, small.url)).toMatchObject({
        status: 413,
        body: { error: expect.stringMatching(/larger than 1024 bytes/) },
      });
      const streamed = await fetch(small.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: new Blob([JSON.stringify(['SET', 'big', value])]).stream(),
        duplex: 'half',
      } as RequestInit);
      expect(streamed.status).toBe(413);
      expect(await call('/', ['EXISTS', 'big'], {}, small.url)).toMatchObject({
        body: { result: 0 },
      });
      expect((await call('/', ['SET', 'fits', 'x'.repeat(900)], {}, small.url)).status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('takes a body just under the 10 MB default and refuses one just over it', async () => {
    const limit = 10 * 1024 * 1024;
    const k = key('big');
    const under = JSON.stringify(['SET', k, '']).length;
    expect((await call('/', ['SET', k, 'x'.repeat(limit - under)])).status).toBe(200);
    expect((await call('/', ['STRLEN', k])).body).toEqual({ result: limit - under });
    expect((await call('/', ['SET', k, 'x'.repeat(limit - under + 1)])).status).toBe(413);
  });

  it.each([['/pipeline/extra'], ['/multi-exec/x'], ['/-flag'], ['/%00'], ['/9lives']])(
    'answers 404 to the unknown path %s',
    async (path) => {
      const reply = await call(path, ['PING']);
      expect(reply).toMatchObject({
        status: 404,
        body: { error: expect.stringMatching(/no such/) },
      });
    },
  );

  it.each([
    ['GET', '/', 'POST'],
    ['PUT', '/', 'POST'],
    ['GET', '/pipeline', 'POST'],
    ['DELETE', '/multi-exec', 'POST'],
    ['DELETE', '/set/k/v', 'GET, POST'],
  ])('answers 405 to %s %s, naming the allowed methods', async (method, path, allow) => {
    const reply = await call(path, undefined, { method });
    expect(reply).toMatchObject({ status: 405, body: { error: expect.stringMatching(method) } });
    expect(reply.headers.get('allow')).toBe(allow);
  });

  it('answers 400 to a path that is not valid percent-encoding', async () => {
    const reply = await call('/get/%E0%A4%A', undefined, { method: 'GET' });
    expect(reply).toMatchObject({ status: 400, body: { error: expect.stringMatching(/percent/) } });
  });

  it.each([
    [['SHUTDOWN', 'NOSAVE']],
    [['DEBUG', 'SLEEP', '10']],
    [['CONFIG', 'SET', 'maxmemory', '1']],
    [['MONITOR']],
    [['SUBSCRIBE', 'news']],
    [['BLPOP', 'queue', '0']],
    [['brpop', 'queue', '1']],
    [['XREAD', 'COUNT', '1', 'BLOCK', '0', 'STREAMS', 's', '$']],
    [['MULTI']],
    [['SELECT', '1']],
    [['CLIENT', 'KILL', 'TYPE', 'normal']],
    [['CLIENT', 'REPLY', 'OFF']],
    [['HELLO', '3']],
    [['QUIT']],
  ])('refuses %j, which would stop, reconfigure or stall the shared Redis', async (command) => {
    const reply = await call('/', command);
    expect(reply).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/refused by this adapter/) },
    });
    const inPipeline = await call('/pipeline', [['PING'], command]);
    expect(inPipeline).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^command 2: .* refused/) },
    });
    expect((await call('/', ['PING'])).body).toEqual({ result: 'PONG' });
  });

  it('allows the harmless neighbours of refused commands', async () => {
    expect((await call('/', ['CONFIG', 'GET', 'maxmemory'])).status).toBe(200);
    expect((await call('/', ['CLIENT', 'GETNAME'])).body).toEqual({ result: 'redis-rest' });
    // BLOCK after STREAMS is a stream's name, not the option.
    expect((await call('/', ['XREAD', 'STREAMS', 'BLOCK', '0'])).body).toEqual({ result: null });
  });
});

describe('Redis going away and coming back', () => {
  let ownRedis: RedisServer;
  let ownRest: RedisRest;
  beforeAll(async () => {
    ownRedis = await startRedisServer();
    ownRest = await startRedisRest({ redisUrl: ownRedis.url, token: TOKEN, log });
  });
  afterAll(async () => {
    await ownRest?.close();
    await ownRedis?.stop();
  });
  const ping = () => call('/', ['PING'], {}, ownRest.url);

  it('answers 503 at once while Redis is down, and @upstash/redis throws', async () => {
    expect((await ping()).status).toBe(200);
    await ownRedis.stop();
    const started = performance.now();
    expect(await ping()).toMatchObject({
      status: 503,
      body: { error: expect.stringMatching(/Redis is unavailable/) },
    });
    expect(performance.now() - started).toBeLessThan(500);
    expect((await call('/pipeline', [['PING']], {}, ownRest.url)).status).toBe(503);
    expect((await call('/multi-exec', [['PING']], {}, ownRest.url)).status).toBe(503);
    const redis = client({ base64: true, autoPipelining: false }, ownRest.url);
    await expect(redis.get('k')).rejects.toThrow(/Redis is unavailable/);
  });

  it('works again once Redis is back on the same port, without restarting the adapter', async () => {
    await ownRedis.start();
    await expect
      .poll(async () => (await ping()).status, { timeout: 5_000, interval: 50 })
      .toBe(200);
    const redis = client({ base64: true, autoPipelining: true }, ownRest.url);
    await redis.set('back', 'again');
    expect(await redis.get('back')).toBe('again');
  });

  it('answers 503 to a command in flight when Redis dies, and recovers after', async () => {
    const busy = call('/', ['EVAL', 'while true do end', '0'], {}, ownRest.url);
    await sleep(200);
    await ownRedis.kill();
    expect(await busy).toMatchObject({ status: 503 });
    await ownRedis.start();
    await expect
      .poll(async () => (await ping()).status, { timeout: 5_000, interval: 50 })
      .toBe(200);
  });

  it('starts while Redis is down, answers 503, and serves once Redis comes up', async () => {
    await ownRedis.stop();
    const started = performance.now();
    const early = await startRedisRest({ redisUrl: ownRedis.url, token: TOKEN, log });
    try {
      expect(performance.now() - started).toBeLessThan(2_000);
      expect((await call('/', ['PING'], {}, early.url)).status).toBe(503);
      await ownRedis.start();
      await expect
        .poll(async () => (await call('/', ['PING'], {}, early.url)).status, { timeout: 5_000 })
        .toBe(200);
    } finally {
      await early.close();
    }
  });

  it('logs each outage once, without the token', () => {
    expect(logged.filter((line) => line.includes('unreachable')).length).toBeGreaterThanOrEqual(2);
    expect(logged.some((line) => line.includes('reachable again'))).toBe(true);
  });
});

describe('npm run redis-rest', () => {
  const cli = (env: Record<string, string>) =>
    spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts/redis-rest.ts')], {
      cwd: root,
      env: { ...process.env, UPSTASH_REDIS_REST_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('prints its URL, serves, and exits 0 on SIGTERM', async () => {
    const child = cli({
      REDIS_URL: redisServer.url,
      UPSTASH_REDIS_REST_TOKEN: TOKEN,
      REDIS_REST_PORT: '0',
    });
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    output += line;
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line.toString())?.[1];
    expect(url).toBeDefined();
    expect(await call('/', ['PING'], {}, url)).toMatchObject({ body: { result: 'PONG' } });
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(output).not.toContain(TOKEN);
  });

  it('exits 1 with the reason when its port is taken', async () => {
    const taken = new URL(rest.url).port;
    const child = cli({
      REDIS_URL: redisServer.url,
      UPSTASH_REDIS_REST_TOKEN: TOKEN,
      REDIS_REST_PORT: taken,
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk;
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(err).toMatch(new RegExp(`cannot listen on port ${taken}.*EADDRINUSE`));
  });

  it.each([
    ['without a token', {}, /set UPSTASH_REDIS_REST_TOKEN/],
    [
      'with a port that is not a number',
      { UPSTASH_REDIS_REST_TOKEN: 't', REDIS_REST_PORT: 'x' },
      /REDIS_REST_PORT/,
    ],
    [
      'with a REDIS_URL that is not a Redis URL',
      { UPSTASH_REDIS_REST_TOKEN: 't', REDIS_URL: 'http://x' },
      /REDIS_URL/,
    ],
  ])('exits 2 with the reason %s', async (_, env, message) => {
    const child = cli(env);
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk;
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
