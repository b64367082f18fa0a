import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import chain from 'stream-chain';
import { parser as jsonParser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { clip } from './convert.js';
import { FeedError } from './errors.js';
import type { Mapping, SourceConfig } from './source-config.js';

/**
 * One input row: its 1-based data row number, its fields, and a way to get its text for the
 * rejects table. The text is built only for rejected rows: keeping it for every row (csv-parse's
 * `raw`) cost a fifth of the parse time.
 */
export type SourceRecord = {
  kind: 'record';
  rowNumber: number;
  fields: Record<string, unknown>;
  raw: () => string;
};
/** A row that could not even be parsed. */
export type UnreadableRow = { kind: 'unreadable'; rowNumber: number; raw: string; reason: string };
export type ReadItem = SourceRecord | UnreadableRow;

type ReadOptions = { mapping: Mapping; requiredFields: readonly string[] };

/**
 * The hard ceiling on one CSV record, to keep memory bounded on a hostile file. Fields longer
 * than the mapping's `maxFieldLength` are rejected row by row; a record over this ceiling stops
 * the parser (csv-parse cannot resynchronise after it), so it fails the run.
 */
const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/** Stream the rows of a feed, in constant memory, whatever its format. */
export function readRecords(
  format: SourceConfig['format'],
  input: Readable,
  options: ReadOptions,
): AsyncGenerator<ReadItem> {
  switch (format) {
    case 'csv':
      return readCsv(input, options);
    case 'ndjson':
      return readNdjson(input);
    case 'geojson':
      return readGeojson(input);
  }
}

async function* readCsv(input: Readable, { mapping, requiredFields }: ReadOptions) {
  let sawHeader = false;
  // A skipped row remembers how many good records the parser had emitted before it
  // (`info.records`), so it keeps its place among them. Numbering in on_record instead would be
  // simpler, but csv-parse then builds an info object per row: a tenth of the parse time.
  const skipped: (Omit<UnreadableRow, 'rowNumber'> & { afterGood: number })[] = [];
  let fatal: FeedError | undefined;
  const parser = parse({
    bom: true,
    delimiter: mapping.delimiter,
    // csv-parse decodes fields from bytes itself, so a character split across two chunks stays
    // whole; bytes that are not valid UTF-8 become U+FFFD and the row is rejected (transform.ts).
    encoding: mapping.encoding === 'latin1' ? 'latin1' : 'utf8',
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_BYTES,
    columns: (header: string[]) => {
      sawHeader = true;
      return checkHeader(
        header.map((h) => h.trim()),
        requiredFields,
        mapping.delimiter,
      );
    },
    on_skip: (error, raw) => {
      if (error?.code === 'CSV_MAX_RECORD_SIZE') {
        fatal = new FeedError(
          `a row after data row ${parser.info.records} is larger than ${MAX_RECORD_BYTES / 1024 / 1024} MB (an unclosed quote, or not a CSV file)`,
        );
        return;
      }
      // csv-parse hands over the fields it got (no raw text unless `raw`, which slows every row).
      const fields = (error as { record?: string[] } | undefined)?.record;
      const line = (error as { lines?: number } | undefined)?.lines;
      skipped.push({
        kind: 'unreadable',
        afterGood: parser.info.records,
        raw: raw ?? fields?.join(mapping.delimiter) ?? '',
        reason: `${describeCsvError(error)}${line ? ` (line ${line})` : ''}`,
      });
    },
  });
  input.on('error', (error) => parser.destroy(error));
  const rows = input.pipe(parser);
  let rowNumber = 0;
  let good = 0;
  const unreadable = (skip: (typeof skipped)[number]): UnreadableRow => {
    rowNumber += 1;
    return { kind: 'unreadable', rowNumber, raw: skip.raw, reason: skip.reason };
  };
  try {
    const delimiter = mapping.delimiter;
    for await (const record of rows as AsyncIterable<Record<string, string>>) {
      while (skipped.length > 0 && (skipped[0] as (typeof skipped)[number]).afterGood <= good) {
        yield unreadable(skipped.shift() as (typeof skipped)[number]);
      }
      if (fatal) throw fatal;
      good += 1;
      rowNumber += 1;
      yield {
        kind: 'record',
        rowNumber,
        fields: record,
        raw: () => toCsvLine(record, delimiter),
      } satisfies SourceRecord;
    }
  } catch (error) {
    if (error instanceof FeedError) throw error;
    const e = error as Error & { code?: string };
    if (e.code?.startsWith('CSV_')) throw new FeedError(`the file is not valid CSV: ${e.message}`);
    throw error;
  }
  while (skipped.length > 0) yield unreadable(skipped.shift() as (typeof skipped)[number]);
  if (fatal) throw fatal;
  if (!sawHeader) throw new FeedError('the file is empty: expected a header row');
}

/** A record back to one CSV line, quoting where needed, for the rejects table. */
function toCsvLine(record: Record<string, string>, delimiter: string): string {
  return Object.values(record)
    .map((v) =>
      v.includes(delimiter) || v.includes('"') || v.includes('\n') || v.includes('\r')
        ? `"${v.replaceAll('"', '""')}"`
        : v,
    )
    .join(delimiter);
}

function checkHeader(header: string[], required: readonly string[], delimiter: string): string[] {
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw new FeedError(`the header names column '${clip(name)}' twice`);
    seen.add(name);
  }
  const missing = required.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    let hint = '';
    if (header.length === 1) {
      const other = [',', ';', '\t', '|'].find(
        (d) => d !== delimiter && (header[0] ?? '').includes(d),
      );
      hint = other
        ? ` The header is one column; the file seems to be delimited by ${JSON.stringify(other)}, not ${JSON.stringify(delimiter)}.`
        : '';
    }
    throw new FeedError(
      `missing required columns: ${missing.join(', ')} (the header has: ${clip(header.join(', '), 200)}).${hint}`,
    );
  }
  return header;
}

function describeCsvError(error: (Error & { code?: string }) | undefined): string {
  switch (error?.code) {
    case 'CSV_RECORD_INCONSISTENT_COLUMNS':
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH':
      return `wrong number of fields (${error.message.replace(/^Invalid Record Length: /, '')}); a truncated line or an unquoted delimiter`;
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is never closed (a truncated file?)';
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return `a quote in the middle of a field: ${error.message}`;
    default:
      return `unreadable CSV row: ${error?.message ?? 'unknown error'}`;
  }
}

async function* readNdjson(input: Readable) {
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let rowNumber = 0;
  for await (const line of lines) {
    if (line.trim() === '') continue;
    rowNumber += 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      yield {
        kind: 'unreadable',
        rowNumber,
        raw: line,
        reason: `not valid JSON: ${(error as Error).message}`,
      } satisfies UnreadableRow;
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      yield {
        kind: 'unreadable',
        rowNumber,
        raw: line,
        reason: 'each line must be a JSON object',
      } satisfies UnreadableRow;
      continue;
    }
    yield {
      kind: 'record',
      rowNumber,
      fields: value as Record<string, unknown>,
      raw: () => line,
    } satisfies SourceRecord;
  }
  if (rowNumber === 0) throw new FeedError('the file is empty: expected one JSON object per line');
}

/**
 * GeoJSON FeatureCollection, streamed feature by feature. A point feature's coordinates are
 * exposed as the fields `$lon` and `$lat`, its `id` as `$id`, and its properties by name.
 */
async function* readGeojson(input: Readable) {
  const pipeline = chain([jsonParser(), pick({ filter: 'features' }), streamArray()]);
  input.on('error', (error) => pipeline.destroy(error));
  input.pipe(pipeline);
  let rowNumber = 0;
  try {
    for await (const { value } of pipeline as AsyncIterable<{ value: unknown }>) {
      rowNumber += 1;
      const raw = () => clip(JSON.stringify(value), 4096);
      const feature = value as {
        type?: unknown;
        id?: unknown;
        properties?: unknown;
        geometry?: unknown;
      };
      if (feature === null || typeof feature !== 'object' || feature.type !== 'Feature') {
        yield {
          kind: 'unreadable',
          rowNumber,
          raw: raw(),
          reason: 'not a GeoJSON Feature',
        } satisfies UnreadableRow;
        continue;
      }
      const fields: Record<string, unknown> = {
        ...(feature.properties && typeof feature.properties === 'object' ? feature.properties : {}),
      };
      if (feature.id !== undefined) fields.$id = feature.id;
      const geometry = feature.geometry as { type?: unknown; coordinates?: unknown } | null;
      if (geometry) {
        const c = geometry.coordinates;
        if (geometry.type !== 'Point' || !Array.isArray(c) || c.length < 2) {
          yield {
            kind: 'unreadable',
            rowNumber,
            raw: raw(),
            reason: `geometry must be a Point with [lon, lat], got ${String(geometry.type)}`,
          } satisfies UnreadableRow;
          continue;
        }
        fields.$lon = c[0];
        fields.$lat = c[1];
      }
      yield { kind: 'record', rowNumber, fields, raw } satisfies SourceRecord;
    }
  } catch (error) {
    throw new FeedError(
      `the file is not a valid GeoJSON FeatureCollection: ${(error as Error).message}`,
    );
  }
  if (rowNumber === 0) {
    // An empty collection is legal GeoJSON but almost always a broken export.
    throw new FeedError('the GeoJSON file has no features');
  }
}
