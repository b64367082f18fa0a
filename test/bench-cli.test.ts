import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { choices, UsageError, wholeNumber } from '../scripts/lib/cli-options.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/** A benchmark part as `npm run bench…` runs it; only its refusals, so nothing is measured. */
function bench(part: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${part}/main.ts`, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SOURCE = /\.(?:[cm]?[jt]s|tsx)$/;
const SKIPPED = new Set(['node_modules', 'results', 'artifacts', 'dist']);

/** Every source file under `folder` (repository-relative), skipping installs and outputs. */
function sources(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((path) => SOURCE.test(path) && !path.split(/[\\/]/).some((p) => SKIPPED.has(p)))
    .map((path) => join(folder, path));
}

/**
 * The module specifiers of a source: `from '…'` (imports and re-exports), `import '…'`,
 * `import('…')` and `require('…')`. A regex, not a parser: it may see an import in a comment,
 * which errs on the side of refusing.
 */
function specifiers(text: string): string[] {
  return [...text.matchAll(/\b(?:from|import|require)\s*\(?\s*(['"])([^'"\n]+)\1/g)].map(
    (m) => m[2] as string,
  );
}

/** The repository-relative files `file` imports by a relative path into `forbidden`. */
function importsInto(file: string, forbidden: string): string[] {
  return specifiers(readFileSync(join(root, file), 'utf8'))
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(root, resolve(root, dirname(file), s)).replaceAll('\\', '/'))
    .filter((target) => target === forbidden || target.startsWith(`${forbidden}/`));
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
    for (const part of ['suite', 'etl', 'api', 'edge', 'backup', 'scaling']) {
      const unknown = bench(part, '--bogus');
      expect(unknown.code, part).toBe(2);
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

describe('the benchmarks and the tests', () => {
  it('see every kind of import (the check below is not vacuous)', () => {
    // Built from parts so this file's own text holds no import of bench/.
    const sample = [
      `import { a } ${'from'} '../bench/lib/cli.js';`,
      `export * ${'from'} "../../bench/edge/main.js";`,
      `const m = await ${'import'}('./bench/api/main.js');`,
      `${'import'} '../bench/lib/stats.js';`,
      `const r = ${'require'}('../bench/lib/table.js');`,
    ].join('\n');
    expect(specifiers(sample)).toEqual([
      '../bench/lib/cli.js',
      '../../bench/edge/main.js',
      './bench/api/main.js',
      '../bench/lib/stats.js',
      '../bench/lib/table.js',
    ]);
  });

  it('import nothing from each other: bench/ never test/, and test/, origin/, edge/ never bench/', () => {
    const benchFiles = sources('bench');
    const otherFiles = ['test', 'origin', 'edge'].flatMap(sources);
    expect(benchFiles.length).toBeGreaterThan(30);
    expect(otherFiles.length).toBeGreaterThan(100);
    const found = [
      ...benchFiles.flatMap((f) => importsInto(f, 'test').map((t) => `${f} imports ${t}`)),
      ...otherFiles.flatMap((f) => importsInto(f, 'bench').map((t) => `${f} imports ${t}`)),
    ];
    // What both need lives in scripts/lib/ (synthetic data, redis-server, CLI options).
    expect(found).toEqual([]);
  });
});
