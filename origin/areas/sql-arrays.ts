import { type SQL, sql } from 'drizzle-orm';

/**
 * A JS array as one SQL array parameter. drizzle spreads an interpolated array into a row
 * (`($1, $2)`), which `= ANY(...)` cannot take, and the two drivers bind arrays differently; a
 * single JSON parameter behaves the same on both, and an empty array is simply `{}`.
 *
 * @example
 *   sql`DELETE FROM areas WHERE id <> ALL(${intArray(ids)})`
 */
export function textArray(values: readonly string[]): SQL {
  return sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`;
}

export function intArray(values: readonly number[]): SQL {
  return sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)::int)`;
}
