import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import {
  type ComposeFile,
  type Env,
  environmentOf,
  read,
  resolveValues,
  root,
  type Service,
} from './compose-file.js';

/**
 * A compose service of our own image, run natively: the command compose would run, with exactly
 * the environment the container would have (the image's ENV, then the service's `environment:`
 * resolved from origin/.env), its secrets as files with the content compose would mount, its
 * volumes as directories of one staging area, and the hostnames of the compose network replaced
 * with where those services really listen here. The image's WORKDIR /app is the repository root.
 */

export type Stage = {
  /** A temporary directory: volumes, secrets and HOME live under it. */
  dir: string;
  /** origin/.env as the operator would write it. */
  dotenv: Env;
  /** `host:port` on the compose network -> where it listens here (`db:5432` -> `127.0.0.1:…`). */
  hosts: Record<string, string>;
  /** A port a service listens on inside its container -> the free port it gets here. */
  ports: Record<string, string>;
};

export type Container = {
  name: string;
  command: string[];
  env: Record<string, string>;
  /** The healthcheck's command (CMD form), rewritten like the environment; null when disabled. */
  healthcheck: string[] | null;
  /** Container path -> host path of each volume and secret. */
  mounts: Record<string, string>;
};

/** The ENV of the image's final stage (origin/Dockerfile), as `docker run` starts with. */
function imageEnv(): Record<string, string> {
  const dockerfile = read('origin/Dockerfile').replace(/\\\n/g, ' ');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m?.[1]) continue;
    for (const pair of m[1].trim().split(/\s+/)) {
      const at = pair.indexOf('=');
      if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return env;
}

/** What compose mounts at a secret's target: the env value, the file, or an empty file. */
function secretContent(compose: ComposeFile, source: string, dotenv: Env): string | Buffer {
  const secrets = resolveValues(compose.secrets ?? {}, dotenv, [], []) as ComposeFile['secrets'];
  const secret = secrets?.[source];
  if (!secret) throw new Error(`secret ${source} is not defined at the top level`);
  if (secret.environment) return dotenv[secret.environment] ?? '';
  const file = secret.file ?? '';
  // `/dev/null` (the stack's default for an unset path) mounts as an empty file.
  if (file === '' || file === '/dev/null') return '';
  return isAbsolute(file) ? readFileSync(file) : read(join('origin', file));
}

/** Resolve one service of the stack into a Container that runs in `stage`. */
export function containerOf(compose: ComposeFile, name: string, stage: Stage): Container {
  const raw = compose.services[name];
  if (!raw) throw new Error(`origin/compose.yaml has no service ${name}`);
  const errors: string[] = [];
  const service = resolveValues(raw, stage.dotenv, [], errors) as Service;
  if (errors.length > 0) throw new Error(`${name}: ${errors.join('; ')}`);

  const mounts: Record<string, string> = {};
  for (const volume of service.volumes ?? []) {
    const [source = '', target = ''] = String(volume).split(':');
    mounts[target] =
      source.startsWith('.') || source.startsWith('/')
        ? join(root, 'origin', source)
        : join(stage.dir, 'volumes', source);
    if (!source.startsWith('.') && !source.startsWith('/')) {
      mkdirSync(mounts[target], { recursive: true });
    }
  }
  const secretsDir = join(stage.dir, 'secrets', name);
  mkdirSync(secretsDir, { recursive: true });
  for (const entry of service.secrets ?? []) {
    const source = typeof entry === 'string' ? entry : entry.source;
    const target = (typeof entry === 'object' && entry.target) || `/run/secrets/${source}`;
    const file = join(secretsDir, source);
    writeFileSync(file, secretContent(compose, source, stage.dotenv), { mode: 0o400 });
    mounts[target] = file;
  }

  const rewrite = (value: string): string => {
    let out = value;
    // Longest mount first: /status/backup.json is under /status, not under /.
    for (const target of Object.keys(mounts).sort((a, b) => b.length - a.length)) {
      if (out === target || out.startsWith(`${target}/`)) {
        out = `${mounts[target]}${out.slice(target.length)}`;
        break;
      }
    }
    for (const [from, to] of Object.entries(stage.hosts)) {
      out = out.replaceAll(`@${from}`, `@${to}`).replaceAll(`//${from}`, `//${to}`);
    }
    for (const [from, to] of Object.entries(stage.ports)) {
      out = out.replaceAll(`127.0.0.1:${from}`, `127.0.0.1:${to}`);
    }
    return out;
  };

  const env: Record<string, string> = {
    // What a container has without asking: a PATH, a HOME (the image's user `node`).
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: join(stage.dir, 'home'),
    ...imageEnv(),
  };
  mkdirSync(env.HOME as string, { recursive: true });
  for (const [key, value] of Object.entries(environmentOf(service))) {
    // `KEY:` without a value passes origin/.env's (or the shell's) value, or leaves it unset.
    const resolved = value ?? stage.dotenv[key];
    if (resolved === undefined) continue;
    const listens = key === 'PORT' || key === 'METRICS_PORT';
    env[key] = listens && stage.ports[resolved] ? stage.ports[resolved] : rewrite(resolved);
  }

  const argv = (command: string | string[] | undefined): string[] => {
    if (!command) throw new Error(`${name} has no command`);
    const list = typeof command === 'string' ? ['sh', '-c', command] : [...command];
    // The image's node is this machine's node; the image's dist/ (scripts/build-origin.sh) is
    // the sources run through tsx: compiling on every run would cost more than the rehearsal, and
    // test/origin-build.test.ts checks the build itself.
    return list.flatMap((arg, i) => {
      if (i === 0 && arg === 'node') return [process.execPath];
      const compiled = /^dist\/(.+)\.js$/.exec(arg);
      if (
        i === 1 &&
        list[0] === 'node' &&
        compiled &&
        existsSync(join(root, `${compiled[1]}.ts`))
      ) {
        return ['--import', 'tsx', `${compiled[1]}.ts`];
      }
      return [rewrite(arg)];
    });
  };
  const hc = service.healthcheck;
  const healthTest = Array.isArray(hc?.test) ? hc.test : undefined;
  const healthcheck =
    hc && !hc.disable && healthTest?.[0] === 'CMD' ? argv(healthTest.slice(1)) : null;
  return { name, command: argv(service.command), env, healthcheck, mounts };
}

export type Running = {
  child: ChildProcess;
  output: () => string;
  /** The exit code once it exited, else undefined. */
  exitCode: () => number | null | undefined;
  exited: Promise<number | null>;
  stop: () => Promise<void>;
};

/** Start a container's command (or another command in its environment, as `compose run` does). */
export function start(container: Container, command = container.command): Running {
  const [cmd = '', ...args] = command;
  const child = spawn(cmd, args, { cwd: root, env: container.env, stdio: 'pipe' });
  let output = '';
  let code: number | null | undefined;
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (c, signal) => {
      code = c ?? (signal ? 128 : null);
      resolve(code);
    });
  });
  return {
    child,
    output: () => output,
    exitCode: () => code,
    exited,
    stop: async () => {
      if (code !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Run to completion; resolves with the exit code and everything it printed. */
export async function runToEnd(
  container: Container,
  command = container.command,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  const running = start(container, command);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  const code = await running.exited;
  clearTimeout(timer);
  return { code, output: running.output() };
}

/** Poll the healthcheck as Docker would (every `intervalMs`) until it passes or time runs out. */
export async function waitHealthy(
  container: Container,
  timeoutMs = 30_000,
  intervalMs = 500,
): Promise<{ code: number | null; output: string }> {
  if (!container.healthcheck) throw new Error(`${container.name} has no healthcheck`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await runToEnd(container, container.healthcheck, 10_000);
    if (result.code === 0 || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
