import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { choices, UsageError, wholeNumber } from '../bench/lib/cli.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/** A benchmark script as `npm run bench…` runs it; only its refusals, so nothing is measured. */
function bench(script: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}.ts`, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('benchmark command lines', () => {
  it('read whole numbers with underscores and refuse anything else, naming the option', () => {
    expect(wholeNumber('--rows', '1_000_000', 5)).toBe(1_000_000);
    expect(wholeNumber('--rows', undefined, 5)).toBe(5);
    expect(wholeNumber('--warmup', '0', 1, 0)).toBe(0);
    for (const bad of ['0', '-3', '1.5', 'many', '1e3', '1e400', ' ', '0x10', '1__0']) {
      expect(() => wholeNumber('--runs', bad, 3)).toThrow(UsageError);
    }
    expect(() => wholeNumber('--runs', 'x', 3)).toThrow(/--runs must be a whole number ≥ 1/);
  });

  it('read lists in the canonical order and name the unknown entries', () => {
    const parts = ['etl', 'api', 'edge'] as const;
    expect(choices('--parts', 'edge,etl', parts, parts)).toEqual(['etl', 'edge']);
    expect(choices('--parts', undefined, parts, ['api'])).toEqual(['api']);
    expect(() => choices('--parts', 'etl,nope,../x', parts, parts)).toThrow(
      '--parts: unknown nope, ../x; known: etl, api, edge',
    );
  });

  it('answer a bad option with its usage and exit code 2, and --help with exit code 0', () => {
    for (const script of ['suite', 'etl', 'api', 'edge', 'backup', 'scaling']) {
      const unknown = bench(script, '--bogus');
      expect(unknown.code, script).toBe(2);
      expect(unknown.stderr).toMatch(/Unknown option '--bogus'\nusage: npm run bench/);
    }
    const bad = bench('suite', '--parts', 'etl,warp');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--parts: unknown warp');
    const help = bench('etl', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: npm run bench:etl');
  });
});
