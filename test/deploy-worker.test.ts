import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimental_readRawConfig, unstable_readConfig } from 'wrangler';
import { requiredSecrets } from '../edge/lib/secrets.js';
import { parseSettings } from '../edge/lib/settings.js';
import { channelSecrets, routedKinds } from '../edge/scheduled/config.js';

/**
 * Issue 14, findings 2 and 4, on wrangler.toml as written. Finding 4: the Worker deployed to
 * workers.dev (no route, workers_dev on), where the Cache API does nothing; nothing required
 * EDGE_ASSERTION_SECRET; a bare `wrangler deploy` made a third Worker. Finding 2: ALERT_ROUTES sent
 * warnings to the generic webhook only while the docs set up Slack only, so every backup, disk and
 * feed warning ended as "channel not configured". Every environment the file declares is walked,
 * so a fourth one is held to the same rules.
 */

const projectRoot = new URL('../', import.meta.url).pathname;
const configPath = join(projectRoot, 'wrangler.toml');
const run = promisify(execFile);

type Route = string | { pattern: string; custom_domain?: boolean };
type Config = {
  vars: Record<string, unknown>;
  routes?: Route[];
  workers_dev?: boolean;
  preview_urls?: boolean;
  secrets?: { required?: string[] };
};

const declared = Object.keys(
  experimental_readRawConfig({ config: configPath }).rawConfig.env ?? {},
);
/** '' is the top level (`wrangler dev`, the tests); the others are deployed. */
const environments = ['', ...declared];

function read(env: string): Config {
  return unstable_readConfig(
    { config: configPath, ...(env ? { env } : {}) },
    { hideWarnings: true },
  ) as Config;
}

function settingsOf(env: string) {
  const check = parseSettings(read(env).vars);
  if (!check.ok) throw new Error(`${env || 'top level'}: ${JSON.stringify(check.problems)}`);
  return check.settings;
}

let docs: string;
beforeAll(async () => {
  docs = (
    await Promise.all(
      ['docs/monitoring.md', 'docs/operations.md'].map((f) =>
        readFile(join(projectRoot, f), 'utf8'),
      ),
    )
  ).join('\n');
});

/** Whether the docs tell the operator to set `secret` for `env`, as a step and not an option. */
function docsSetIt(secret: string, env: string): boolean {
  const lines = docs.split('\n');
  if (env === '') return lines.some((l) => l.includes(secret) && l.includes('.dev.vars'));
  return lines.some(
    (l) => l.includes(`wrangler secret put ${secret} --env ${env}`) && !/optional/i.test(l),
  );
}

describe('wrangler.toml declares the deployed environments', () => {
  it('staging and production, at least', () => {
    expect(declared).toEqual(expect.arrayContaining(['staging', 'production']));
  });
});

describe.each(environments)('alert routes, environment "%s"', (env) => {
  it('send every severity and the report to at least one channel the docs have the operator set', () => {
    const settings = settingsOf(env);
    for (const kind of routedKinds) {
      const channels = settings.ALERT_ROUTES[kind];
      const documented = channels.filter((c) => docsSetIt(channelSecrets[c], env));
      expect(documented, `${kind} goes to ${JSON.stringify(channels)}`).not.toEqual([]);
    }
  });

  it.skipIf(env !== 'production')(
    'in production list every routed channel in secrets.required, so a deploy without it fails',
    () => {
      const settings = settingsOf(env);
      const required = read(env).secrets?.required ?? [];
      for (const kind of routedKinds)
        for (const channel of settings.ALERT_ROUTES[kind])
          expect(required, `${kind} → ${channel}`).toContain(channelSecrets[channel]);
    },
  );
});

describe.each(declared)('environment "%s" lands where its cache works', (env) => {
  it('on a custom domain, with workers.dev and preview URLs off', () => {
    const config = read(env);
    expect(config.workers_dev).toBe(false);
    expect(config.preview_urls).toBe(false);
    expect(config.routes?.length).toBeGreaterThan(0);
    for (const route of config.routes ?? [])
      expect(route).toEqual({ pattern: expect.any(String), custom_domain: true });
  });

  it('requires the secrets its vars need, the assertion secret and the Access token first', () => {
    const config = read(env);
    const required = config.secrets?.required ?? [];
    expect(required).toEqual(expect.arrayContaining(requiredSecrets(settingsOf(env))));
    expect(required).toEqual(
      expect.arrayContaining([
        'EDGE_ASSERTION_SECRET',
        'CF_ACCESS_CLIENT_ID',
        'CF_ACCESS_CLIENT_SECRET',
      ]),
    );
    for (const secret of required) expect(docsSetIt(secret, env), secret).toBe(true);
  });
});

describe('the top level', () => {
  it('has no route and no workers.dev address: deployed by mistake it answers nowhere', () => {
    const config = read('');
    expect(config.routes ?? []).toEqual([]);
    expect(config.workers_dev).toBe(false);
    expect(config.preview_urls).toBe(false);
  });
});

describe('npm run deploy (scripts/check-worker-config.ts --deploy)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'deploy-worker-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(args: string[]) {
    try {
      const { stdout, stderr } = await run(
        join(projectRoot, 'node_modules/.bin/tsx'),
        ['scripts/check-worker-config.ts', ...args],
        {
          cwd: projectRoot,
          timeout: 60_000,
          env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
        },
      );
      return { code: 0, output: stdout + stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  }

  /** wrangler.toml with `edit` applied, written beside the test (main made absolute). */
  async function variant(name: string, edit: (text: string) => string): Promise<string> {
    const text = (await readFile(configPath, 'utf8')).replace(
      'main = "edge/index.ts"',
      `main = "${join(projectRoot, 'edge/index.ts')}"`,
    );
    const path = join(dir, `${name}.toml`);
    await writeFile(path, edit(text));
    return path;
  }

  it('passes the build check on wrangler.toml as it is', async () => {
    const { code, output } = await check([]);
    expect(code, output).toBe(0);
  });

  it('refuses a deploy without --env', async () => {
    const { code, output } = await check(['--deploy']);
    expect(code).toBe(1);
    expect(output).toMatch(/--env staging.*--env production.*third Worker/);
  });

  it('refuses a deploy while the route is the example.com placeholder, naming the key', async () => {
    const { code, output } = await check(['--deploy', '--env', 'production', '--dry-run']);
    expect(code).toBe(1);
    expect(output).toContain('routes[0].pattern is the placeholder "api.example.com"');
    expect(output).toContain('ORIGIN_URL is the placeholder');
  });

  it('lets it through once the placeholders are replaced', async () => {
    const path = await variant('real', (text) =>
      text
        .replaceAll('api.example.com', 'api.estate.dev')
        .replaceAll('origin.example.com', 'origin.estate.dev')
        .replace(
          /CORS_ORIGINS = \["https:\/\/example\.com", "https:\/\/www\.example\.com"\]/,
          'CORS_ORIGINS = ["https://estate.dev"]',
        ),
    );
    const { code, output } = await check([
      '--config',
      path,
      '--deploy',
      '--env',
      'production',
      '--dry-run',
    ]);
    expect(code, output).toBe(0);
  });

  it('fails the build for the shape finding 4 found: workers.dev on, no route, no secrets.required', async () => {
    const path = await variant('before', (text) =>
      text
        .replace(/^workers_dev = false\npreview_urls = false\n/m, '')
        .replace(
          /\[env\.production\]\nname = "estate-edge-production"\n[\s\S]*?\nrequired = \[[^\]]*\]\n/,
          '[env.production]\nname = "estate-edge-production"\n',
        ),
    );
    const { code, output } = await check(['--config', path]);
    expect(code).toBe(1);
    expect(output).toContain('top level: workers_dev must be false');
    expect(output).toContain('production: workers_dev must be false');
    expect(output).toContain('production: routes: none');
    expect(output).toMatch(/production: secrets\.required must list EDGE_ASSERTION_SECRET/);
  });

  it('fails the build when production routes an alert to a channel its secrets.required lacks', async () => {
    const path = await variant('unlisted-channel', (text) =>
      text.replace(
        /(\[env\.production\.vars\][\s\S]*?)ALERT_ROUTES = \{[^\n]*\}/,
        '$1ALERT_ROUTES = { critical = ["slack", "webhook"], warning = ["slack"], report = ["slack"] }',
      ),
    );
    const { code, output } = await check(['--config', path]);
    expect(code).toBe(1);
    expect(output).toMatch(/production: secrets\.required must list ALERT_WEBHOOK_URL/);
  });
});
