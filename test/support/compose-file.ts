import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * origin/compose.yaml and origin/.env.example as Compose reads them, without a Docker engine: the
 * interpolation, the env file's declarations, and the parts of a service the tests look at.
 * Shared by test/compose.test.ts (the stack's rules) and test/compose-rehearsal.test.ts (the
 * services run natively with the environment Compose would give them).
 */

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const read = (path: string) => readFileSync(join(root, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Compose interpolation (the subset of the Compose Specification this stack uses)

export type Env = Record<string, string | undefined>;
export type Reference = { name: string; required: boolean };

/**
 * Interpolate one Compose string: `$$`, `$NAME`, `${NAME}` and `${NAME<op>word}` with the
 * operators `:-`, `-`, `:?`, `?`, `:+`, `+`. Nested interpolation is refused: this stack does not
 * use it, and a checker that half-understands it would pass things it should not.
 */
export function interpolate(text: string, env: Env, refs: Reference[], errors: string[]): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i += 1;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = text.indexOf('}', i);
      const body = end === -1 ? '' : text.slice(i + 2, end);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$/s.exec(body);
      if (!m || body.includes('${')) {
        errors.push(`cannot interpolate '${text}'`);
        return out;
      }
      const [, name = '', op, word = ''] = m;
      const value = env[name];
      const emptyCounts = op?.startsWith(':') ?? false;
      const missing = value === undefined || (emptyCounts && value === '');
      refs.push({ name, required: op === ':?' || op === '?' });
      if (op === ':-' || op === '-') out += missing ? word : value;
      else if (op === ':?' || op === '?') {
        if (missing) errors.push(`required variable ${name} is missing a value: ${word}`);
        else out += value;
      } else if (op === ':+' || op === '+') out += missing ? '' : word;
      else out += value ?? '';
      i = end + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) {
      errors.push(`a lone '$' in '${text}' (write $$ for a literal dollar)`);
      return out;
    }
    refs.push({ name: m[0], required: false });
    out += env[m[0]] ?? '';
    i += 1 + m[0].length;
  }
  return out;
}

/** Interpolate every string value (never a key) of a parsed Compose document. */
export function resolveValues(
  node: unknown,
  env: Env,
  refs: Reference[],
  errors: string[],
): unknown {
  if (typeof node === 'string') return interpolate(node, env, refs, errors);
  if (Array.isArray(node)) return node.map((n) => resolveValues(n, env, refs, errors));
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, resolveValues(v, env, refs, errors)]),
    );
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// origin/.env.example

export type Declaration = { name: string; value: string; active: boolean; secret: boolean };
export type EnvExample = { declarations: Map<string, Declaration>; problems: string[] };

/** Names that hold credentials: they must be marked `# secret` and left empty in the example. */
export const SECRET_NAME =
  /(^|_)(PASSWORD|SECRET|SECRET_KEY|TOKEN|ACCESS_KEY_ID|SECRET_ACCESS_KEY)$/;

/**
 * Read .env.example: `NAME=value` (unquoted without spaces, or single/double quoted) declares a
 * variable, `# NAME=value` an optional one left unset. Every declaration sits in a block (lines
 * between blank lines) with at least one comment explaining it; `# secret` on the line right
 * above marks a credential.
 */
export function parseEnvExample(text: string): EnvExample {
  const declarations = new Map<string, Declaration>();
  const problems: string[] = [];
  const blocks = text.split(/\n\s*\n/);
  for (const block of blocks) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const prose = lines.some(
      (l) => l.startsWith('#') && l.trim() !== '# secret' && !/^# ?[A-Z][A-Z0-9_]*=/.test(l),
    );
    let secretNext = false;
    for (const line of lines) {
      if (line.trim() === '# secret') {
        secretNext = true;
        continue;
      }
      const active = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      const optional = /^# ?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      const decl = active ?? optional;
      if (!decl) {
        if (!line.startsWith('#')) problems.push(`not a comment nor NAME=value: ${line}`);
        if (secretNext) problems.push(`'# secret' is not right above a variable: ${line}`);
        secretNext = false;
        continue;
      }
      const [, name = '', raw = ''] = decl;
      let value = raw;
      if (/^'.*'$/.test(raw) || /^".*"$/.test(raw)) value = raw.slice(1, -1);
      else if (active && /[\s#'"]/.test(raw)) problems.push(`${name}: quote a value with spaces`);
      if (declarations.has(name)) problems.push(`${name} is declared twice`);
      if (!prose) problems.push(`${name} has no comment explaining it`);
      if (SECRET_NAME.test(name) && !secretNext) problems.push(`${name} is not marked # secret`);
      if (secretNext && value !== '') problems.push(`${name} is a secret with a committed value`);
      declarations.set(name, { name, value, active: Boolean(active), secret: secretNext });
      secretNext = false;
    }
  }
  return { declarations, problems };
}

/** The environment an operator's origin/.env would give: the example's values, secrets filled. */
export function operatorEnv(example: EnvExample): Env {
  const env: Env = {};
  for (const d of example.declarations.values()) {
    if (!d.active) continue;
    env[d.name] = d.secret && d.value === '' ? randomBytes(32).toString('hex') : d.value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// The stack's rules

export type HealthCheck = { test?: string | string[]; disable?: boolean };
export type Dependency = { condition?: string; required?: boolean };
export type Service = {
  image?: string;
  build?: unknown;
  command?: string | string[];
  restart?: string;
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { host_ip?: string; published?: string | number })[];
  network_mode?: string;
  networks?: string[] | Record<string, unknown>;
  depends_on?: string[] | Record<string, Dependency>;
  healthcheck?: HealthCheck;
  deploy?: { resources?: { limits?: { cpus?: string | number; memory?: string } } };
  mem_limit?: string;
  cpus?: string | number;
  logging?: { driver?: string; options?: Record<string, string> };
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
};
export type ComposeFile = {
  services: Record<string, Service>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { environment?: string; file?: string }>;
};

export function dependenciesOf(service: Service): Record<string, Dependency> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) {
    return Object.fromEntries(deps.map((name) => [name, { condition: 'service_started' }]));
  }
  return deps;
}

export function hasHealthcheck(service: Service): boolean {
  const hc = service.healthcheck;
  if (!hc || hc.disable === true) return false;
  const test = Array.isArray(hc.test) ? hc.test : [hc.test];
  return test[0] !== undefined && test[0] !== 'NONE';
}

export function environmentOf(service: Service): Record<string, string | undefined> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at === -1 ? [entry, undefined] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === null ? undefined : String(v)]),
  );
}

/** Names a service lets through from origin/.env without a value (unset unless .env sets them). */
export function passThroughNames(service: Service): string[] {
  return Object.entries(environmentOf(service))
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
}

export function networksOf(service: Service): string[] {
  const n = service.networks ?? ['default'];
  return Array.isArray(n) ? n : Object.keys(n);
}

/** The stack as committed. */
export function readCompose(): ComposeFile {
  return parse(read('origin/compose.yaml')) as ComposeFile;
}
