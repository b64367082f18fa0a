import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * Upgrades without downtime and with a way back (issue 14, findings 7 and 8): scripts/deploy.sh
 * and scripts/rollback.sh, run against a stand-in `docker` first on PATH (Docker cannot run
 * here) that records each call with the image tag it was given, and the compose stack's replicas
 * and stop budgets read from origin/compose.yaml.
 */

const root = fileURLToPath(new URL('..', import.meta.url));

/** Records `ORIGIN_IMAGE_TAG=<tag> <args>` per call; FAKE_DOCKER_FAIL fails a matching call. */
const FAKE_DOCKER = `#!/usr/bin/env bash
printf '%s %s\\n' "ORIGIN_IMAGE_TAG=\${ORIGIN_IMAGE_TAG:-}" "$*" >> "$FAKE_DOCKER_LOG"
if [[ -n \${FAKE_DOCKER_FAIL:-} && "$*" == *"$FAKE_DOCKER_FAIL"* ]]; then exit 1; fi
if [[ "$*" == "compose ps --quiet --status running backup" && -z \${FAKE_NO_BACKUP:-} ]]; then
  echo 0123456789ab
fi
exit 0
`;

type Run = { status: number | null; stderr: string; calls: string[] };

describe('scripts/deploy.sh and scripts/rollback.sh', () => {
  let dir: string;
  let composeDir: string;
  let stateDir: string;
  let logFile: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'estate-deploy-'));
    composeDir = join(dir, 'origin');
    stateDir = join(dir, 'state');
    logFile = join(dir, 'docker.log');
    spawnSync('mkdir', ['-p', join(dir, 'bin'), composeDir]);
    writeFileSync(join(dir, 'bin', 'docker'), FAKE_DOCKER);
    chmodSync(join(dir, 'bin', 'docker'), 0o755);
    writeFileSync(join(composeDir, '.env'), 'LOG_LEVEL=info\nORIGIN_IMAGE_TAG=0.1.0\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function run(script: string, args: string[], env: Record<string, string> = {}): Run {
    writeFileSync(logFile, '');
    const result = spawnSync('bash', [join(root, 'scripts', script), ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
        FAKE_DOCKER_LOG: logFile,
        DEPLOY_COMPOSE_DIR: composeDir,
        DEPLOY_STATE_DIR: stateDir,
        ...env,
      },
    });
    const calls = readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean);
    return { status: result.status, stderr: result.stderr, calls };
  }

  /** The calls that change something, in order, as `<tag> <step>`. */
  function steps(calls: string[]): string[] {
    return calls.flatMap((call) => {
      const [tagPart = '', ...rest] = call.split(' ');
      const tag = tagPart.replace('ORIGIN_IMAGE_TAG=', '');
      const args = rest.join(' ');
      if (args.includes('exec -T backup') && args.includes('backup.js run')) return ['backup'];
      if (args.startsWith('compose build')) return [`${tag} build`];
      if (args.startsWith('compose run --rm migrate')) return [`${tag} migrate`];
      const up = /^compose up -d --no-deps --wait --wait-timeout \d+ (\S+)$/.exec(args);
      if (up) return [`${tag} ${up[1]}`];
      const ready = /^compose exec -T (api(?:-2)?) node -e .*\/health\/ready/.exec(args);
      if (ready) return [`${tag} health ${ready[1]}`];
      return [];
    });
  }

  it('backs up, builds under the new tag, migrates, rolls api then api-2, then checks health', () => {
    const deployed = run('deploy.sh', ['v2']);
    expect(deployed.stderr).not.toContain('error');
    expect(deployed.status).toBe(0);
    expect(steps(deployed.calls)).toEqual([
      'backup',
      'v2 build',
      'v2 migrate',
      'v2 api',
      'v2 api-2',
      'v2 backup',
      'v2 cloudflared',
      'v2 cloudflared-2',
      'v2 health api',
      'v2 health api-2',
    ]);
    expect(readFileSync(join(stateDir, 'current-tag'), 'utf8').trim()).toBe('v2');
    // Plain `docker compose` commands from now on use the deployed image too.
    expect(readFileSync(join(composeDir, '.env'), 'utf8')).toBe(
      'LOG_LEVEL=info\nORIGIN_IMAGE_TAG=v2\n',
    );
  });

  it('rolls back to the tag the last deploy replaced, one replica at a time, without building', () => {
    expect(run('deploy.sh', ['v1']).status).toBe(0);
    expect(run('deploy.sh', ['v2']).status).toBe(0);
    const back = run('rollback.sh', []);
    expect(back.stderr).not.toContain('error');
    expect(back.status).toBe(0);
    expect(steps(back.calls)).toEqual([
      'v1 api',
      'v1 api-2',
      'v1 backup',
      'v1 health api',
      'v1 health api-2',
    ]);
    expect(back.calls.some((c) => / build| run --rm migrate/.test(c))).toBe(false);
    expect(readFileSync(join(stateDir, 'current-tag'), 'utf8').trim()).toBe('v1');
    expect(readFileSync(join(stateDir, 'previous-tag'), 'utf8').trim()).toBe('v2');
    expect(readFileSync(join(composeDir, '.env'), 'utf8')).toContain('ORIGIN_IMAGE_TAG=v1\n');
  });

  it('stops before touching a replica when the backup or the migrations fail', () => {
    const noBackup = run('deploy.sh', ['v2'], { FAKE_DOCKER_FAIL: 'backup.js run' });
    expect(noBackup.status).not.toBe(0);
    expect(steps(noBackup.calls)).toEqual(['backup']);
    const noMigration = run('deploy.sh', ['v2'], { FAKE_DOCKER_FAIL: 'run --rm migrate' });
    expect(noMigration.status).not.toBe(0);
    expect(steps(noMigration.calls)).toEqual(['backup', 'v2 build', 'v2 migrate']);
    const noService = run('deploy.sh', ['v2'], { FAKE_NO_BACKUP: '1' });
    expect(noService.status).not.toBe(0);
    expect(noService.stderr).toContain('no backup service is running');
  });

  it('stops the roll when a replica does not become healthy, leaving the other one serving', () => {
    const failed = run('deploy.sh', ['v2'], { FAKE_DOCKER_FAIL: 'wait-timeout 180 api' });
    expect(failed.status).not.toBe(0);
    expect(steps(failed.calls).at(-1)).toBe('v2 api');
    expect(steps(failed.calls)).not.toContain('v2 api-2');
  });

  it('refuses latest, a tag already deployed, and a rollback with nothing recorded', () => {
    expect(run('deploy.sh', ['latest']).status).not.toBe(0);
    expect(run('deploy.sh', ['v1']).status).toBe(0);
    expect(run('deploy.sh', ['v1']).stderr).toContain('deployed already');
    rmSync(stateDir, { recursive: true });
    expect(run('rollback.sh', []).stderr).toContain('no previous tag recorded');
  });
});

type Service = {
  command?: string[];
  stop_grace_period?: string;
  networks?: Record<string, { aliases?: string[]; ipv4_address?: string } | null>;
  profiles?: string[];
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  environment?: Record<string, string | null>;
};

const compose = parse(readFileSync(join(root, 'origin/compose.yaml'), 'utf8')) as {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean } | null>;
};
const seconds = (d = '0s') => {
  const m = /^(\d+)(s|m)$/.exec(d);
  return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : Number.NaN;
};
const argAfter = (command: string[] | undefined, flag: string) =>
  command?.[(command?.indexOf(flag) ?? -2) + 1];

describe('origin/compose.yaml, for upgrades without downtime', () => {
  it('runs two API replicas that both answer to the name the tunnel uses', () => {
    const { api, 'api-2': api2 } = compose.services;
    expect(api2).toEqual(api);
    expect(api?.networks?.backend?.aliases).toContain('api');
    const tunnel = readFileSync(join(root, 'tunnel/config.yml'), 'utf8');
    expect(tunnel).toContain('service: http://api:8080');
  });

  it('gives the API longer to stop than its own drain budget', () => {
    const api = compose.services.api;
    const budget = /SHUTDOWN_TIMEOUT_MS:-(\d+)/.exec(String(api?.environment?.SHUTDOWN_TIMEOUT_MS));
    expect(seconds(api?.stop_grace_period)).toBeGreaterThanOrEqual(Number(budget?.[1]) / 1000 + 5);
  });

  it('runs two tunnel connectors, each given longer to stop than its drain', () => {
    for (const name of ['cloudflared', 'cloudflared-2']) {
      const s = compose.services[name];
      const drain = seconds(argAfter(s?.command, '--grace-period'));
      expect({ name, drain }).toEqual({ name, drain: 30 });
      expect(seconds(s?.stop_grace_period)).toBeGreaterThanOrEqual(drain + 10);
      expect(s?.depends_on?.['api-2']?.condition).toBe('service_healthy');
    }
  });

  it('keeps cloudflared’s metrics off the backend network, on its monitoring address only', () => {
    for (const name of ['cloudflared', 'cloudflared-2']) {
      const s = compose.services[name];
      const metrics = argAfter(s?.command, '--metrics') ?? '';
      const own = s?.networks?.monitoring?.ipv4_address;
      expect({ name, metrics }).toEqual({ name, metrics: `${own}:2000` });
      // The healthcheck asks that same address.
      expect(argAfter(s?.healthcheck?.test, '--metrics')).toBe(metrics);
      expect((s as { ports?: unknown }).ports).toBeUndefined();
    }
    expect(compose.networks.monitoring?.internal).toBe(true);
    const onMonitoring = Object.entries(compose.services)
      .filter(([, s]) => s.networks && !Array.isArray(s.networks) && 'monitoring' in s.networks)
      .map(([name]) => name);
    expect(onMonitoring.sort()).toEqual(['cloudflared', 'cloudflared-2', 'prometheus']);
  });

  it('scrapes both API replicas and both connectors with Prometheus in the monitoring profile', () => {
    const prometheus = compose.services.prometheus;
    expect(prometheus?.profiles).toEqual(['monitoring']);
    expect(prometheus?.volumes).toContain(
      './monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
    );
    const config = parse(readFileSync(join(root, 'origin/monitoring/prometheus.yml'), 'utf8')) as {
      scrape_configs: {
        job_name: string;
        dns_sd_configs?: { names: string[]; port: number }[];
        static_configs?: { targets: string[] }[];
      }[];
    };
    const jobs = Object.fromEntries(config.scrape_configs.map((j) => [j.job_name, j]));
    // The API's metrics listener (METRICS_PORT), not its API port: test/compose-rehearsal.test.ts
    // scrapes it the way this job does.
    expect(jobs['origin-api']?.dns_sd_configs).toEqual([
      expect.objectContaining({ names: ['api'], port: 9464 }),
    ]);
    const cloudflaredTargets = jobs.cloudflared?.static_configs?.flatMap((c) => c.targets);
    expect(cloudflaredTargets?.sort()).toEqual(
      ['cloudflared', 'cloudflared-2']
        .map((n) => argAfter(compose.services[n]?.command, '--metrics'))
        .sort(),
    );
  });
});
