import { execFile } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './children.js';

const run = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const DIR_PREFIX = 'estate-edge-reliability-pg-';
/** pg_ctl's own wait (-t) for start, stop and restart. */
const PG_CTL_WAIT_S = 60;

export type PostgresCluster = {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth, loopback only). */
  urlOf: (database: string) => string;
  /** `pg_ctl restart -m fast`: every session is cut, the server is back when this resolves. */
  restart: () => Promise<void>;
  /** Stops the server (fast) and removes its directory. */
  destroy: () => Promise<void>;
  /** The end of the server's log, for a report when something went wrong. */
  logTail: (lines?: number) => string;
  /** The postmaster's process id (it changes on restart), undefined while it is down. */
  postmasterPid: () => number | undefined;
};

/**
 * A PostgreSQL cluster of the suite's own, in a temporary directory on a free port: the fault
 * part restarts it, which must never happen to the machine's shared server on 5432. PostGIS is
 * installed system-wide, so `CREATE EXTENSION postgis` works in it as in the shared one.
 *
 * initdb and the server refuse to run as root; as root (a CI container) they run as the
 * `postgres` system user, which owns the directory.
 *
 * A directory left by a runner that was killed outright (its cleanup never ran) is found by the
 * pid file written next to the data and removed, its server stopped, at the next start.
 *
 * @example
 *   const pg = await startPostgresCluster();
 *   await pg.restart();
 *   await pg.destroy();
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  await sweepAbandonedClusters();
  const base = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(base, 'runner.pid'), String(process.pid));
  const data = join(base, 'data');
  const log = join(base, 'postgres.log');
  const asUser = await serverUser();
  if (asUser) chownSync(base, asUser.uid, asUser.gid);
  const pg = (tool: string, args: string[], timeoutMs = (PG_CTL_WAIT_S + 10) * 1000) =>
    run(...command(asUser, join(PG_BIN, tool), args), { timeout: timeoutMs, cwd: base });

  let port = 0;
  try {
    // No fsync during initdb: the cluster lives for one run.
    await pg('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-locale',
      '-N',
    ]);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      // Appended settings win over earlier ones: a retry only adds another port line.
      appendFileSync(
        join(data, 'postgresql.conf'),
        [
          '',
          '# estate-edge reliability suite',
          `port = ${port}`,
          "listen_addresses = '127.0.0.1'",
          `unix_socket_directories = '${base}'`,
          'max_connections = 200',
          '',
        ].join('\n'),
      );
      try {
        await pg('pg_ctl', ['-D', data, '-l', log, '-w', '-t', String(PG_CTL_WAIT_S), 'start']);
        break;
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
  } catch (error) {
    await pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
    throw new Error(
      `cannot start a private PostgreSQL with ${PG_BIN} (set PG_BIN): ${(error as Error).message}`,
    );
  }

  return {
    port,
    urlOf: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    restart: async () => {
      await pg('pg_ctl', [
        '-D',
        data,
        '-l',
        log,
        '-w',
        '-t',
        String(PG_CTL_WAIT_S),
        '-m',
        'fast',
        'restart',
      ]);
    },
    destroy: async () => {
      await pg('pg_ctl', ['-D', data, '-w', '-t', '30', '-m', 'fast', 'stop']).catch(() =>
        pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined),
      );
      rmSync(base, { recursive: true, force: true });
    },
    postmasterPid: () => {
      try {
        const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    logTail: (lines = 30) => {
      try {
        return readFileSync(log, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}

type ServerUser = { name: string; uid: number; gid: number };

/** The user to run PostgreSQL as: ourselves, or `postgres` when we are root. */
async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const name = process.env.PG_SERVER_USER ?? 'postgres';
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new Error(
      `running as root, PostgreSQL needs another user to run as: there is no '${name}' user (set PG_SERVER_USER)`,
    );
  }
}

function command(user: ServerUser | undefined, tool: string, args: string[]): [string, string[]] {
  if (!user) return [tool, args];
  return [
    'setpriv',
    ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', tool, ...args],
  ];
}

/** Clusters whose runner is gone: stop their server and remove them. */
async function sweepAbandonedClusters(): Promise<void> {
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir()).filter((name) => name.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  const user = await serverUser().catch(() => undefined);
  for (const entry of entries) {
    const base = join(tmpdir(), entry);
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(base, 'runner.pid'), 'utf8'));
    } catch {
      // No pid file yet: a runner that is starting right now. Leave it.
      continue;
    }
    if (Number.isInteger(owner) && alive(owner)) continue;
    await run(
      ...command(user, join(PG_BIN, 'pg_ctl'), [
        '-D',
        join(base, 'data'),
        '-m',
        'immediate',
        'stop',
      ]),
      {
        timeout: 30_000,
      },
    ).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
