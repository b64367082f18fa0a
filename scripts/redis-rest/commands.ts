/**
 * What the adapter accepts as a command: the body and path forms parsed into Redis arguments, and
 * the commands it refuses because they would break the one connection every request shares or
 * have no business behind a REST door.
 */

/** Thrown below the request handler to end a request with one status and one message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A command as Redis gets it. Strings, numbers and booleans become strings (`@upstash/redis`
 * sends `redis.set('k', true)` as `["set","k",true]`); null, objects and nested arrays are refused
 * rather than guessed at.
 */
export function parseCommand(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) throw new HttpError(400, `${where} must be a JSON array of arguments`);
  if (value.length === 0) throw new HttpError(400, `${where} is an empty command`);
  if (typeof value[0] !== 'string' || value[0].length === 0) {
    throw new HttpError(400, `${where}: the command name must be a non-empty string`);
  }
  const command: string[] = new Array(value.length);
  // Upper case: the refusal list and the script translation compare upper-case names.
  command[0] = value[0].toUpperCase();
  for (let i = 1; i < value.length; i++) {
    const arg: unknown = value[i];
    if (typeof arg === 'string') command[i] = arg;
    else if (typeof arg === 'number' || typeof arg === 'boolean') command[i] = String(arg);
    else {
      const kind = arg === null ? 'null' : Array.isArray(arg) ? 'an array' : typeof arg;
      throw new HttpError(400, `${where}: argument ${i} is ${kind}; only strings and numbers`);
    }
  }
  return command;
}

export function parsePipeline(value: unknown): string[][] {
  if (!Array.isArray(value)) throw new HttpError(400, 'the body must be a JSON array of commands');
  if (value.length === 0) throw new HttpError(400, 'the pipeline is empty');
  return value.map((command, i) => parseCommand(command, `command ${i + 1}`));
}

export function pathCommand(path: string, body: Buffer | undefined): string[] {
  const segments = path.slice(1).split('/');
  if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  let command: string[];
  try {
    command = segments.map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HttpError(400, 'the path is not valid percent-encoding');
  }
  command[0] = (command[0] as string).toUpperCase();
  // Upstash's path form: a POST body is the last argument (`POST /set/k` with body `v`).
  if (body !== undefined && body.length > 0) command.push(body.toString('utf8'));
  return command;
}

export function refuse(command: string[], index?: number): void {
  const reason = refusal(command);
  if (reason === undefined) return;
  const which = index === undefined ? '' : `command ${index + 1}: `;
  throw new HttpError(400, `${which}${command[0]} is refused by this adapter: ${reason}`);
}

/**
 * Commands this adapter refuses, and why. Every request shares one multiplexed connection, so a
 * command that changes that connection's state (MULTI, SELECT, SUBSCRIBE, CLIENT REPLY) or blocks
 * it (BLPOP, WAIT, XREAD BLOCK: even with a timeout, every other request waits behind it) would
 * corrupt or stall all other requests in flight. Commands that stop, replicate or reconfigure the
 * server have no business behind a REST door, even a development one. Upstash refuses the same
 * families; FLUSHALL, KEYS and SCRIPT stay allowed because tests use them.
 */
const REFUSED = new Map<string, string>();
for (const name of ['MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH']) {
  REFUSED.set(name, 'send transactions to POST /multi-exec');
}
for (const name of ['SELECT', 'SWAPDB', 'AUTH', 'HELLO', 'RESET', 'QUIT']) {
  REFUSED.set(name, 'it changes the connection every request shares');
}
for (const name of [
  ...['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE'],
  ...['MONITOR', 'SYNC', 'PSYNC'],
]) {
  REFUSED.set(name, 'streaming replies are not supported');
}
for (const name of [
  ...['BLPOP', 'BRPOP', 'BRPOPLPUSH', 'BLMOVE', 'BLMPOP', 'BZPOPMIN', 'BZPOPMAX', 'BZMPOP'],
  ...['WAIT', 'WAITAOF'],
]) {
  REFUSED.set(name, 'a blocking command would stall every request on the shared connection');
}
for (const name of ['SHUTDOWN', 'DEBUG', 'MODULE', 'REPLICAOF', 'SLAVEOF', 'FAILOVER', 'ACL']) {
  REFUSED.set(name, 'it stops or reconfigures the server');
}
const ALLOWED_SUBCOMMANDS: Record<string, Set<string>> = {
  CLIENT: new Set(['ID', 'INFO', 'LIST', 'GETNAME']),
  CONFIG: new Set(['GET']),
};

/** Why `command` is refused, or undefined. Names arrive upper-cased. */
export function refusal(command: readonly string[]): string | undefined {
  const name = command[0] as string;
  const reason = REFUSED.get(name);
  if (reason !== undefined) return reason;
  const allowed = ALLOWED_SUBCOMMANDS[name];
  if (allowed !== undefined && !allowed.has((command[1] ?? '').toUpperCase())) {
    return `only ${name} ${[...allowed].join(', ')} are allowed`;
  }
  if ((name === 'XREAD' || name === 'XREADGROUP') && hasBlockOption(command)) {
    return 'a blocking command would stall every request on the shared connection';
  }
  return undefined;
}

/** XREAD's options come before STREAMS; after it, every argument is a key or an id. */
function hasBlockOption(command: readonly string[]): boolean {
  for (let i = 1; i < command.length; i++) {
    const arg = (command[i] as string).toUpperCase();
    if (arg === 'STREAMS') return false;
    if (arg === 'BLOCK') return true;
  }
  return false;
}
