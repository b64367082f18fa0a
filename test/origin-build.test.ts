import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';

/**
 * The image runs compiled JavaScript (issue 14, finding 5): `npm run build:origin` emits dist/,
 * and the compose services' commands (`node dist/origin/db/migrate-cli.js`,
 * `node dist/origin/index.js`) run from it with plain node, no TypeScript loader, against a real
 * PostgreSQL, as origin/Dockerfile's runtime stage does.
 */

const root = fileURLToPath(new URL('..', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('the compiled origin (npm run build:origin)', () => {
  let out: string;
  let database: TestDatabase;
  let api: ChildProcess | undefined;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'estate-origin-build-'));
    const build = spawnSync('bash', [join(root, 'scripts/build-origin.sh')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ORIGIN_BUILD_DIR: join(out, 'dist') },
    });
    if (build.status !== 0)
      throw new Error(`build-origin.sh failed:\n${build.stdout}${build.stderr}`);
    // Laid out as in the image: /app/dist beside /app/node_modules.
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
    database = await createTestDatabase();
  }, 240_000);

  afterAll(async () => {
    api?.kill('SIGKILL');
    await database?.drop();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('holds the entry points of every service and the files they read, and no TypeScript', () => {
    for (const file of [
      'dist/origin/index.js',
      'dist/origin/db/migrate-cli.js',
      'dist/scripts/backup.js',
      'dist/scripts/restore.js',
      'dist/scripts/metabase-setup.js',
      'dist/migrations/meta/_journal.json',
      'dist/origin/etl/sources.json',
      'dist/origin/viewer/static/index.html',
      'dist/origin/routes/docs/assets/docs.html',
    ]) {
      expect({ file, exists: existsSync(join(out, file)) }).toEqual({ file, exists: true });
    }
    const ts = spawnSync('find', [join(out, 'dist'), '-name', '*.ts'], { encoding: 'utf8' });
    expect(ts.stdout).toBe('');
  });

  it('migrates with plain node, then serves /health and readiness', async () => {
    const env = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
    };
    // The template is migrated already: this proves the compiled CLI finds dist/migrations.
    const migrate = spawnSync(process.execPath, ['dist/origin/db/migrate-cli.js'], {
      cwd: out,
      encoding: 'utf8',
      env,
    });
    expect({ status: migrate.status, stderr: migrate.stderr }).toEqual({ status: 0, stderr: '' });

    const port = await freePort();
    api = spawn(process.execPath, ['dist/origin/index.js'], {
      cwd: out,
      env: {
        ...env,
        HOST: '127.0.0.1',
        PORT: String(port),
        MIGRATE_ON_START: 'false',
        SEED_ON_START: 'false',
        DATA_DIR: out,
        EDGE_ASSERTION_SECRET: randomBytes(32).toString('base64url'),
        CURSOR_SECRET: randomBytes(32).toString('base64url'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    api.stdout?.on('data', (d) => {
      output += d;
    });
    api.stderr?.on('data', (d) => {
      output += d;
    });
    const started = Date.now();
    let health: Response | undefined;
    while (Date.now() - started < 30_000 && api.exitCode === null) {
      health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (health) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect({ status: health?.status, output: health ? '' : output }).toEqual({
      status: 200,
      output: '',
    });
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(ready.status).toBe(200);
    api.kill('SIGTERM');
    const code = await new Promise((resolve) => api?.once('exit', resolve));
    expect(code).toBe(0);
  }, 60_000);

  it('runs every command the docs tell an operator to run in our image, as the image has it', () => {
    // `docker compose exec|run [options] <service> <command…>` for the services built from
    // origin/Dockerfile. The image has no tsx and no sources: `npm run …` there fails.
    const ours = new Set(['api', 'api-2', 'backup', 'migrate', 'metabase-setup']);
    const docs = [
      'README.md',
      ...readdirSync(join(root, 'docs')).map((f) => `docs/${f}`),
      'tunnel/README.md',
    ].filter((f) => f.endsWith('.md'));
    const commands: { doc: string; service: string; command: string }[] = [];
    for (const doc of docs) {
      const text = readFileSync(join(root, doc), 'utf8').replace(/\\\n\s*/g, ' ');
      for (const m of text.matchAll(
        /docker compose (?:exec|run)((?: +-\S+(?: +(?!-)\S+=\S+|(?: +"[^"]*"))?)*) +([a-z0-9-]+)(?: +([^`#|\n]*))?/g,
      )) {
        const service = m[2] ?? '';
        if (ours.has(service)) commands.push({ doc, service, command: (m[3] ?? '').trim() });
      }
    }
    expect(commands.length).toBeGreaterThan(5);
    for (const { doc, service, command } of commands) {
      const where = `${doc}: docker compose … ${service} ${command}`;
      expect(command, where).not.toMatch(/^(npm|npx|tsx)\b/);
      const script = /^node (dist\/\S+\.js)/.exec(command)?.[1];
      if (script) expect(existsSync(join(out, script)), where).toBe(true);
    }
  });

  it('runs the operator CLIs with plain node from dist/ (keys list)', () => {
    const keys = spawnSync(process.execPath, ['dist/origin/auth/cli/keys.js', 'list'], {
      cwd: out,
      encoding: 'utf8',
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: database.url,
        LOG_LEVEL: 'warn',
      },
    });
    expect({ status: keys.status, stderr: keys.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
