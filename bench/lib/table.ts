/** Plain-text tables for benchmark output: readable in a terminal and pasteable into Markdown. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `1234567.8` → `1,234,568`. */
export function formatInteger(value: number): string {
  return Number.isFinite(value) ? integer.format(value) : 'n/a';
}

/** `value` with `digits` decimals, or `n/a`. */
export function formatFixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/**
 * A Markdown table (pipes and a separator line) with columns padded to their widest cell, so it
 * reads as a table on a terminal too. Cells in columns listed in `alignRight` are right-aligned.
 *
 * @example
 * console.log(markdownTable(['figure', 'median'], [['fresh load', '123,456 rows/s']], [1]));
 */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  alignRight: readonly number[] = [],
): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const pad = (cell: string, c: number) =>
    alignRight.includes(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number);
  const line = (cells: readonly string[]) =>
    `| ${widths.map((_, c) => pad(cells[c] ?? '', c)).join(' | ')} |`;
  const separator = `| ${widths
    .map((w, c) => (alignRight.includes(c) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)))
    .join(' | ')} |`;
  return [line(header), separator, ...rows.map(line)].join('\n');
}
