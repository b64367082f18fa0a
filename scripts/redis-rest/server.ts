/**
 * An Upstash-compatible REST door in front of a real Redis, for local development and tests. The
 * edge Worker talks to Redis only through `@upstash/redis` and `@upstash/ratelimit`, which speak
 * HTTP; in production they reach Upstash (or SRH, hiett/serverless-redis-http), here they reach
 * this adapter. It speaks the protocol as `@upstash/redis` 1.39 expects it (read from its dist):
 *
 * - `POST /` body `["SET","k","v"]` → `200 {"result": …}`; a Redis error → `400 {"error": "…"}`.
 * - `POST /pipeline` and `POST /multi-exec` body `[[…], […]]` → `200 [{"result"}|{"error"}, …]`.
 * - `GET|POST /set/k/v` (path form; a POST body is appended as the last argument).
 * - `Upstash-Encoding: base64` (the client's default): every string in the result, at any depth, is
 *   base64 of Redis's bytes, so binary values survive JSON. Numbers and nulls stay as they are.
 * - The client sends `upstash-sync-token` and keeps whatever comes back (read-your-writes across
 *   Upstash replicas). One Redis is already read-your-writes, so no token is sent back.
 *
 * @example
 * const rest = await startRedisRest({ redisUrl: 'redis://127.0.0.1:6379', token: 'dev' });
 * const redis = new Redis({ url: rest.url, token: 'dev' }); // from '@upstash/redis'
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command, Pipeline, Redis, ReplyError } from 'ioredis';
import { HttpError, parseCommand, parsePipeline, pathCommand, refuse } from './commands.js';
import { type ResultFix, ScriptTranslator } from './scripts.js';

export type RedisRestOptions = {
  redisUrl: string;
  token: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Larger bodies get 413. Default 10 MB, Upstash's own request limit on the free plan. */
  maxBodyBytes?: number;
  /** Connection state changes (Redis lost, Redis back). Silent by default. */
  log?: (line: string) => void;
};

export type RedisRest = { url: string; close(): Promise<void> };

const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
// A command Redis has not answered in 5 s means a hung server, not a slow one: the rate limiter in
// front of it gives up after 5 s too (`@upstash/ratelimit`'s default timeout).
const COMMAND_TIMEOUT_MS = 5_000;

/**
 * ioredis reshapes some replies (HGETALL into an object, a few RESP3 shapes); Upstash answers with
 * Redis's own reply, so this command skips the reshaping. `replyEncoding: null` keeps bulk strings
 * as Buffers: base64 of the exact bytes, not of a lossy UTF-8 round trip.
 */
class RawCommand extends Command {
  constructor(args: readonly string[]) {
    super(args[0] as string, args.slice(1), { replyEncoding: null });
  }
  override transformReply(result: Buffer | Buffer[]) {
    return result;
  }
}

/** Starts the adapter; resolves once it listens and its first attempt to reach Redis settled. */
export async function startRedisRest(options: RedisRestOptions): Promise<RedisRest> {
  if (!options.token) throw new Error('startRedisRest: token must not be empty');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = options.log ?? (() => {});
  const expectedTokenDigest = digest(options.token);
  const scripts = new ScriptTranslator();

  const redis = new Redis(options.redisUrl, {
    // RESP2: the reply shapes Upstash returns (HGETALL as a flat array, Lua `true` as 1).
    protocol: 2,
    // Redis down must answer 503 at once, not queue requests until it comes back...
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // ...and a command that was in flight when the connection broke has already been answered
    // 503; sending it again on reconnect would apply an INCR twice behind the client's back.
    autoResendUnfulfilledCommands: false,
    connectTimeout: 2_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Reconnect within a second of Redis coming back (the default backoff grows to 5 s).
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    connectionName: 'redis-rest',
    disableClientInfo: true,
  });
  // Why Redis is unreachable, for the 503 answer and one log line per outage (not per retry).
  let downReason = 'not connected yet';
  let reportedDown = false;
  let closing = false;
  const wentDown = (reason: string) => {
    downReason = reason;
    if (!reportedDown && !closing) log(`redis-rest: Redis unreachable (${reason}); reconnecting`);
    reportedDown = true;
  };
  redis.on('error', (error: Error) => wentDown(error.message));
  redis.on('close', () => wentDown(reportedDown ? downReason : 'connection closed'));
  redis.on('ready', () => {
    if (reportedDown) log('redis-rest: Redis reachable again');
    reportedDown = false;
  });
  // Resolve once the first connection attempt settled, either way: a test that starts the adapter
  // and then sends a command must not race the handshake, and a Redis that is down at start is
  // not fatal (the adapter answers 503 until it comes up).
  await new Promise<void>((resolve) => {
    redis.once('ready', resolve);
    redis.once('error', () => resolve());
  });

  function unavailable(): HttpError {
    return new HttpError(503, `Redis is unavailable (${redis.status}): ${downReason}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const route = routeOf(path);
    if (route === undefined) throw new HttpError(404, `no such endpoint: ${path.slice(0, 100)}`);
    const method = req.method ?? 'GET';
    if (method !== 'POST' && !(method === 'GET' && route === 'path')) {
      res.setHeader('allow', route === 'path' ? 'GET, POST' : 'POST');
      throw new HttpError(405, `method ${method} not allowed on ${path.slice(0, 100)}`);
    }
    // Checked before the body is read: an anonymous client cannot make the adapter buffer 10 MB.
    if (!authorized(req.headers.authorization, expectedTokenDigest)) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'Unauthorized');
    }
    const body = method === 'POST' ? await readBody(req, res, maxBodyBytes) : undefined;
    const encoding = req.headers['upstash-encoding'];
    const base64 = typeof encoding === 'string' && encoding.toLowerCase() === 'base64';

    if (route === 'pipeline' || route === 'multi-exec') {
      const commands = parsePipeline(parseJson(body));
      commands.forEach(refuse);
      const fixes = commands.map((command) => scripts.translate(command));
      if (redis.status !== 'ready') throw unavailable();
      const answers =
        route === 'pipeline'
          ? await runPipeline(redis, commands)
          : await runTransaction(redis, commands);
      if (answers === undefined) throw unavailable();
      send(
        res,
        200,
        answers.map((answer, i) => encodeAnswer(answer, base64, fixes[i])),
      );
      return;
    }
    const command =
      route === 'single' ? parseCommand(parseJson(body), 'the body') : pathCommand(path, body);
    refuse(command);
    const fix = scripts.translate(command);
    if (redis.status !== 'ready') throw unavailable();
    const answer = await runCommand(redis, command);
    if (answer === undefined) throw unavailable();
    send(res, 'error' in answer ? 400 : 200, encodeAnswer(answer, base64, fix));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) {
        send(res, error.status, { error: error.message });
      } else {
        // Not expected: every path above answers on purpose. Say so without echoing the request
        // (it carries the token).
        log(`redis-rest: unexpected error: ${(error as Error)?.stack ?? String(error)}`);
        send(res, 500, { error: 'internal error in the Redis REST adapter' });
      }
    });
  });
  // Longer than undici's 4 s client keep-alive, so the client always closes an idle connection
  // first and never sends on a socket the server is closing.
  server.keepAliveTimeout = 10_000;
  // A slow or endless upload ends here rather than holding a socket forever.
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: Error) => {
    // A taken port must not leave a Redis connection keeping the process alive.
    closing = true;
    redis.disconnect();
    throw error;
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests in flight get a moment to finish; then their sockets go too.
      const force = setTimeout(() => server.closeAllConnections(), 1_000);
      await closed;
      clearTimeout(force);
      closing = true;
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

type Route = 'single' | 'pipeline' | 'multi-exec' | 'path';

// A path-form command name: letters first, then what module commands use (`JSON.SET`, `FT._LIST`).
const COMMAND_SEGMENT = /^\/[A-Za-z][A-Za-z0-9_.]*(\/|$)/;

function routeOf(path: string): Route | undefined {
  if (path === '/' || path === '') return 'single';
  if (path === '/pipeline') return 'pipeline';
  if (path === '/multi-exec') return 'multi-exec';
  if (path.startsWith('/pipeline/') || path.startsWith('/multi-exec/')) return undefined;
  return COMMAND_SEGMENT.test(path) ? 'path' : undefined;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Compares digests, so neither the token's bytes nor its length leak through timing. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  if (header === undefined || header.length < 8) return false;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return false;
  return timingSafeEqual(digest(header.slice(7).trim()), expected);
}

function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(413, `request body is larger than ${maxBytes} bytes; send fewer commands`);
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) {
    // Close after answering: reading (and discarding) a body we already refused is wasted work.
    res.setHeader('connection', 'close');
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.setHeader('connection', 'close');
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function parseJson(body: Buffer | undefined): unknown {
  if (body === undefined || body.length === 0) {
    throw new HttpError(400, 'the body is empty; send a JSON array such as ["GET","key"]');
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
}

type Answer = { result: unknown } | { error: string };

/** `undefined` when the connection, not Redis, failed: the caller answers 503. */
async function runCommand(redis: Redis, command: string[]): Promise<Answer | undefined> {
  const raw = new RawCommand(command);
  redis.sendCommand(raw);
  try {
    return { result: await raw.promise };
  } catch (error) {
    return error instanceof ReplyError ? { error: (error as Error).message } : undefined;
  }
}

/** One write for the whole pipeline (ioredis's Pipeline batches it). */
async function runPipeline(redis: Redis, commands: string[][]): Promise<Answer[] | undefined> {
  // `new Pipeline` rather than `redis.pipeline()`: only the class declares `sendCommand`.
  const pipeline = new Pipeline(redis);
  for (const command of commands) pipeline.sendCommand(new RawCommand(command));
  const replies = (await pipeline.exec()) ?? [];
  const answers: Answer[] = [];
  for (const [error, result] of replies) {
    if (error === null) answers.push({ result });
    else if (error instanceof ReplyError) answers.push({ error: error.message });
    else return undefined;
  }
  return answers;
}

/**
 * MULTI, the commands, EXEC, sent as one pipeline: one write on the shared connection, so no other
 * request's command can land inside the transaction.
 */
async function runTransaction(redis: Redis, commands: string[][]): Promise<Answer[] | undefined> {
  const answers = await runPipeline(redis, [['MULTI'], ...commands, ['EXEC']]);
  if (answers === undefined) return undefined;
  const exec = answers[answers.length - 1] as Answer;
  if ('error' in exec) {
    // EXECABORT: a command was refused while queueing (wrong arity, unknown name); say which.
    const queued = answers.slice(1, -1);
    const failed = queued.findIndex((answer) => 'error' in answer);
    const detail =
      failed === -1
        ? ''
        : `: command ${failed + 1}: ${(queued[failed] as { error: string }).error}`;
    throw new HttpError(400, `${exec.error}${detail}`);
  }
  if (!Array.isArray(exec.result)) throw new HttpError(400, 'the transaction was aborted');
  return exec.result.map((result: unknown) =>
    result instanceof ReplyError ? { error: (result as Error).message } : { result },
  );
}

function encodeAnswer(answer: Answer, base64: boolean, fix: ResultFix | undefined): Answer {
  if ('error' in answer) return answer;
  return { result: encodeValue(fix === undefined ? answer.result : fix(answer.result), base64) };
}

function encodeValue(value: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) return value.toString(base64 ? 'base64' : 'utf8');
  if (Array.isArray(value)) return value.map((item) => encodeValue(item, base64));
  // An error nested in a reply (a Lua table holding `redis.error_reply`) has no JSON form of its
  // own in Upstash's protocol: its message travels as a string.
  if (value instanceof Error) return encodeValue(Buffer.from(value.message), base64);
  return value;
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  if (res.headersSent) return;
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
