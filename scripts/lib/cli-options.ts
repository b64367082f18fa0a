/**
 * Command-line options as the benchmark scripts read them (bench/lib/cli.ts re-exports these):
 * the usage error and its exit code, whole numbers and lists. Here, not in bench/, so
 * test/bench-cli.test.ts can test them without importing bench/ (issue 15).
 */

/** A bad argument: reported as one line and the usage, exit code 2 (as `npm run etl` does). */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

/**
 * A whole-number option (`1_000_000` allowed), `fallback` when absent or empty.
 *
 * @example
 *   const runs = wholeNumber('--runs', values.runs, 3);
 */
export function wholeNumber(
  name: string,
  text: string | undefined,
  fallback: number,
  min = 1,
): number {
  if (text === undefined || text === '') return fallback;
  // Digits only (and _ between them): Number() alone would take '0x10', '1e3' and ' '.
  const value = /^\d+(_\d+)*$/.test(text) ? Number(text.replaceAll('_', '')) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min)
    throw new UsageError(`${name} must be a whole number ≥ ${min}`);
  return value;
}

/**
 * A comma-separated choice among `known`, returned in `known`'s order whatever the order asked;
 * `fallback` when absent.
 *
 * @example
 *   const parts = choices('--parts', values.parts, PARTS, PARTS);
 */
export function choices<T extends string>(
  name: string,
  text: string | undefined,
  known: readonly T[],
  fallback: readonly T[],
): T[] {
  const asked = text === undefined ? [...fallback] : text.split(',').map((s) => s.trim());
  const unknown = asked.filter((a) => !(known as readonly string[]).includes(a));
  if (unknown.length > 0)
    throw new UsageError(`${name}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return known.filter((k) => asked.includes(k));
}
