import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 15, "a smaller Worker": the upload was 1,418 KiB (260 KiB gzipped), most of it zod's
 * classic build. The edge now validates with zod/mini and wrangler minifies; this builds the
 * production Worker as `wrangler deploy` would and holds the upload to the 600 KiB.
 * Figures: docs/benchmarks.md, "Worker size".
 */
const run = promisify(execFile);
const limitKiB = 600;
let dir: string;
let output: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'worker-size-'));
  const { stdout, stderr } = await run(
    'npx',
    ['wrangler', 'deploy', '--dry-run', '--outdir', dir, '--env', 'production'],
    { env: { ...process.env, NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false' } },
  );
  output = `${stdout}\n${stderr}`;
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the production Worker', () => {
  it(`uploads at most ${limitKiB} KiB`, () => {
    const match = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(output);
    expect(match, output).not.toBeNull();
    expect(Number(match?.[1])).toBeLessThanOrEqual(limitKiB);
  });

  it("carries zod/mini, not zod's classic build", () => {
    const bundle = readFileSync(join(dir, 'index.js'), 'utf8');
    // Each zod class names itself: classic zod's string schema is "ZodString", mini's "ZodMiniString".
    expect(bundle).not.toContain('"ZodString"');
    expect(bundle).toContain('"ZodMiniString"');
    // Its source map still points into the .ts files, so Workers Logs show them in traces.
    const map = JSON.parse(readFileSync(join(dir, 'index.js.map'), 'utf8')) as {
      sources: string[];
    };
    expect(map.sources.some((s) => s.endsWith('edge/index.ts'))).toBe(true);
  });
});
