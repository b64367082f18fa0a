/**
 * Field conversions for feeds. Written by hand on purpose: they run once per field per row
 * (tens of millions of calls on a big feed), and general-purpose parsers (date-fns `parse`,
 * Intl) cost microseconds each. Each function returns `undefined` for "no value" and throws a
 * ConversionError with a message a person can act on.
 */

export class ConversionError extends Error {
  readonly code = 'CONVERSION';
}

/** Values that mean "no value" unless a source says otherwise. */
export const DEFAULT_NULL_VALUES = ['', '?', 'NA', 'N/A', 'null', 'NULL'] as const;

const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** `1.23E+06`, `221900.0`, `$1,250,000`, ` 42 ` -> number. */
export function toNumber(value: string): number {
  let text = value.trim();
  if (text.startsWith('$')) text = text.slice(1);
  if (text.includes(',')) {
    // Thousands separators only: "1,250,000". A decimal comma is ambiguous; refuse it.
    if (!/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(text)) {
      throw new ConversionError(`'${clip(value)}' is not a number`);
    }
    text = text.replaceAll(',', '');
  }
  // Number('') is 0 and Number('0x10') is 16: accept only decimal and exponent notation.
  // The pattern must not backtrack: `\d+\.?\d*` splits a run of digits n ways and made a 65,536-digit
  // field (the default maxFieldLength) cost seconds per row on a hostile feed.
  if (!DECIMAL.test(text)) {
    throw new ConversionError(`'${clip(value)}' is not a number`);
  }
  const n = Number(text);
  if (!Number.isFinite(n)) throw new ConversionError(`'${clip(value)}' is out of range`);
  return n;
}

/** A whole number; `3.0` is accepted, `2.5` is not. */
export function toInteger(value: string): number {
  const n = toNumber(value);
  if (!Number.isInteger(n)) throw new ConversionError(`'${clip(value)}' is not a whole number`);
  return n;
}

const TRUE = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0']);

export function toBoolean(value: string): boolean {
  const text = value.trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  throw new ConversionError(`'${clip(value)}' is not a yes/no value`);
}

type DateParts = {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
};
type DateParser = (text: string) => DateParts | undefined;

const TOKENS: Record<string, { pattern: string; part: keyof DateParts }> = {
  YYYY: { pattern: '(\\d{4})', part: 'year' },
  MM: { pattern: '(\\d{2})', part: 'month' },
  M: { pattern: '(\\d{1,2})', part: 'month' },
  DD: { pattern: '(\\d{2})', part: 'day' },
  D: { pattern: '(\\d{1,2})', part: 'day' },
  HH: { pattern: '(\\d{2})', part: 'hour' },
  H: { pattern: '(\\d{1,2})', part: 'hour' },
  mm: { pattern: '(\\d{2})', part: 'minute' },
  ss: { pattern: '(\\d{2})', part: 'second' },
};

const parserCache = new Map<string, DateParser>();

/**
 * Compile a format such as `M/D/YYYY` or `YYYYMMDDTHHmmss` into a matcher. Tokens: YYYY, MM, M,
 * DD, D, HH, H, mm, ss; anything else is literal.
 */
export function compileDateFormat(format: string): DateParser {
  const cached = parserCache.get(format);
  if (cached) return cached;
  const parts: (keyof DateParts)[] = [];
  let pattern = '';
  for (let i = 0; i < format.length; ) {
    const token = ['YYYY', 'MM', 'DD', 'HH', 'mm', 'ss', 'M', 'D', 'H'].find((t) =>
      format.startsWith(t, i),
    );
    if (token) {
      const spec = TOKENS[token] as (typeof TOKENS)[string];
      pattern += spec.pattern;
      parts.push(spec.part);
      i += token.length;
    } else {
      pattern += (format[i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i += 1;
    }
  }
  const regex = new RegExp(`^${pattern}$`);
  const parser: DateParser = (text) => {
    const match = regex.exec(text);
    if (!match) return undefined;
    const out: DateParts = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    parts.forEach((part, index) => {
      out[part] = Number(match[index + 1]);
    });
    return out;
  };
  parserCache.set(format, parser);
  return parser;
}

/** ISO 8601 is always accepted; sources add their own formats. */
export const DEFAULT_DATE_FORMATS = ['YYYY-MM-DD', 'YYYYMMDD', 'YYYYMMDDTHHmmss', 'M/D/YYYY'];
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** A calendar date -> `YYYY-MM-DD`; impossible dates (Feb 30) are refused. */
export function toDate(value: string, formats: readonly string[] = DEFAULT_DATE_FORMATS): string {
  const text = value.trim();
  const parts = matchDate(text, formats);
  if (parts) return formatDate(parts);
  if (isIsoDateTime(text)) return text.slice(0, 10);
  throw new ConversionError(`'${clip(value)}' is not a date in any of: ${formats.join(', ')}`);
}

/** A point in time -> ISO 8601 in UTC. Formats without a zone are read as UTC. */
export function toTimestamp(
  value: string,
  formats: readonly string[] = DEFAULT_DATE_FORMATS,
): string {
  const text = value.trim();
  const parts = matchDate(text, formats);
  if (parts) {
    const ms = Date.UTC(
      parts.year,
      parts.month - 1,
      parts.day,
      parts.hour,
      parts.minute,
      parts.second,
    );
    return new Date(ms).toISOString();
  }
  if (isIsoDateTime(text)) {
    const ms = Date.parse(text.includes('Z') || /[+-]\d{2}:?\d{2}$/.test(text) ? text : `${text}Z`);
    if (Number.isFinite(ms)) return new Date(ms).toISOString();
  }
  throw new ConversionError(
    `'${clip(value)}' is not a timestamp in any of: ISO 8601, ${formats.join(', ')}`,
  );
}

/**
 * The first format whose shape matches and whose parts are a real date. A value that only fits a
 * format's shape (13/1/2014 under M/D/YYYY) goes on to the next format (D/M/YYYY), and is refused
 * as "not a real date" only when no format reads it.
 */
function matchDate(text: string, formats: readonly string[]): DateParts | undefined {
  let impossible = false;
  for (const format of formats) {
    const parts = compileDateFormat(format)(text);
    if (!parts) continue;
    if (isRealDate(parts)) return parts;
    impossible = true;
  }
  if (impossible || (ISO_DATE_TIME.test(text) && !isIsoDateTime(text))) {
    throw new ConversionError(`'${clip(text)}' is not a real date`);
  }
  return undefined;
}

/**
 * ISO 8601 date-time whose parts are real: Date.parse rolls 2014-02-30 over into March 2 and
 * 24:00 into the next day, and the date part alone would be stored as an impossible date.
 */
function isIsoDateTime(text: string): boolean {
  if (!ISO_DATE_TIME.test(text)) return false;
  return isRealDate({
    year: Number(text.slice(0, 4)),
    month: Number(text.slice(5, 7)),
    day: Number(text.slice(8, 10)),
    hour: Number(text.slice(11, 13)),
    minute: Number(text.slice(14, 16)),
    second: text[16] === ':' ? Number(text.slice(17, 19)) : 0,
  });
}

function isRealDate(p: DateParts): boolean {
  if (p.month < 1 || p.month > 12 || p.day < 1 || p.hour > 23 || p.minute > 59 || p.second > 59) {
    return false;
  }
  const d = new Date(Date.UTC(p.year, p.month - 1, p.day));
  return d.getUTCMonth() === p.month - 1 && d.getUTCDate() === p.day;
}

function formatDate(p: DateParts): string {
  return `${String(p.year).padStart(4, '0')}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

/** Shorten a value for an error message: a 10 MB field must not become a 10 MB reason. */
export function clip(value: string, max = 60): string {
  return value.length <= max ? value : `${value.slice(0, max)}… (${value.length} characters)`;
}
