/**
 * Hostile values, by family, drawn from a seeded PRNG (scripts/lib/synthetic.ts's mulberry32) so a
 * failure found once is found again with the same --seed. A value is either `text` (to be
 * percent-encoded like any client would) or `raw` (put in the URL as is: bad percent-encodings
 * and metacharacters a client library would have escaped).
 */
export type FuzzValue = { family: string; text?: string; raw?: string };

export type Random = () => number;

export const pick = <T>(random: Random, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)] as T;
export const between = (random: Random, min: number, max: number) =>
  min + Math.floor(random() * (max - min + 1));

const NUMBERS = [
  '0',
  '-0',
  '-1',
  '1',
  '2',
  '01',
  '00001',
  '+1',
  '1.',
  '.5',
  '1.5',
  '-1.5',
  '1e3',
  '1E+06',
  '1e-7',
  '2147483647',
  '2147483648',
  '-2147483649',
  '4294967296',
  '9007199254740993',
  '99999999999999999999999999999999',
  '1e308',
  '1e309',
  '-1e309',
  '5e-324',
  'NaN',
  'Infinity',
  '-Infinity',
  '0x1F',
  '0b101',
  '0o17',
  '1_000',
  '1,000',
  '$1,250,000',
  '١٢٣',
  '１２３',
  ' 1',
  '1 ',
  '',
  ' ',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
];

const COORDINATES = [
  '-122.4,47.5,-122.2,47.7',
  '-180,-90,180,90',
  '180,90,-180,-90',
  '-122.2,47.7,-122.4,47.5',
  '0,0,0,0',
  '1,2,3',
  '1,2,3,4,5',
  ',,,',
  'a,b,c,d',
  'NaN,NaN,NaN,NaN',
  '1e999,1,2,3',
  '-181,0,0,0',
  '0,-91,0,0',
  '-122.3,47.6',
  '200,95',
  '-122.3',
  '-122.3,47.6,0',
  '−122.3,47.6',
  '-122.3;47.6',
  '-122.3 47.6',
  '0x10,0x10',
  '1e308,1e308,1e308,1e308',
  '-0,-0,-0,-0',
  '-122.4,47.5,-122.2,47.7,',
  ',-122.4,47.5,-122.2,47.7',
];

const DATES = [
  '2024-02-30',
  '2023-02-29',
  '0000-00-00',
  '0001-01-01',
  '9999-12-31',
  '2024-13-01',
  '2024-00-10',
  '-2024-01-01',
  '+02024-01-01',
  '2024-1-1',
  '24-01-01',
  '2024/01/01',
  '2024-01-01T00:00:00Z',
  '2024-01-01T25:61:61',
  '1970-01-01T00:00:00.000+99:99',
  '20240101',
  'yesterday',
  '2024-W01-1',
];

const UNICODE = [
  '🏠',
  '👨‍👩‍👧‍👦',
  'é',
  'e\u0301',
  '\u202Eevil',
  '\u200B',
  '\u200D',
  '\uFEFF',
  'Ω≈ç√∫',
  '日本語',
  'Ελληνικά',
  'עברית',
  'العربية',
  'Ａｃｔｉｖｅ',
  'ǅ',
  'ﬁ',
  '\u0000',
  '\u0007',
  '\u001b[31m',
  '\uFFFD',
  '\uFFFF',
  '𝕒𝕔𝕥𝕚𝕧𝕖',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗',
];

const SQL = [
  "' OR '1'='1",
  "1' OR 1=1--",
  '1; DROP TABLE listings;--',
  "'; SELECT pg_sleep(10);--",
  "'||pg_sleep(10)||'",
  '1)::text--',
  '$$',
  '$1',
  "E'\\x00'",
  '\\',
  "\\'",
  '%',
  '_',
  '%_%',
  '"',
  '`',
  ';',
  "ST_GeomFromText('POINT(0 0)')",
  'NULL',
  "Closed' UNION SELECT password_hash FROM users--",
  '1 AND (SELECT count(*) FROM users) > 0',
  "Active,Closed'--",
];

const PATHS = [
  '../../etc/passwd',
  '..',
  '.',
  '/',
  '//',
  '\\',
  '....//',
  '/etc/passwd',
  'C:\\Windows',
  'file:///etc/passwd',
  'http://169.254.169.254/',
  '~',
  '*',
  '?',
  '#',
  '&',
  '=',
  '+',
];

/** Put in the URL as they are: a client library would have refused or escaped them. */
const RAW = [
  '%',
  '%%',
  '%z',
  '%zz',
  '%G0',
  '%0',
  '%E0%A4%A',
  '%C0%AF',
  '%ED%A0%80',
  '%FF%FE',
  '%00',
  '%u0041',
  '%252e%252e%252f',
  '%2e%2e%2f',
  '..%2f..%2f',
  '%2F',
  '%3F',
  '%23',
  '%26',
  '%3D',
  "'",
  '..',
  '/',
  ';',
  '[',
  ']',
  '{',
  '}',
  '|',
  '^',
  '!',
  '$',
  '@',
  ':',
  ',',
  '*',
  '(',
  ')',
];

const STRUCTURED = [
  '{"a":1}',
  '[]',
  '[1,2]',
  '{"$ne":null}',
  'null',
  'true',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, meant literally
  '${7*7}',
  '{{7*7}}',
];

function randomAscii(random: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += String.fromCharCode(32 + Math.floor(random() * 95));
  return out;
}

/** A string of any code points from the Basic Multilingual Plane and beyond (no lone surrogates). */
function randomUnicode(random: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const cp =
      random() < 0.7 ? Math.floor(random() * 0xd7ff) : 0x10000 + Math.floor(random() * 0xfffff);
    out += String.fromCodePoint(cp);
  }
  return out;
}

/** Near misses of an enum: wrong case, padding, a sign, doubled, joined. */
function nearMiss(random: Random, values: readonly string[]): string {
  const value = pick(random, values);
  return pick(random, [
    value.toUpperCase(),
    value.toLowerCase(),
    ` ${value}`,
    `${value} `,
    `-${value}`,
    `${value}${value}`,
    `${value},${value}`,
    value.slice(0, -1),
    `${value}\u0000`,
  ]);
}

/** One value for a parameter with this schema (its enum, when it has one, adds near misses). */
export function fuzzValue(random: Random, schema: { enum?: readonly unknown[] } = {}): FuzzValue {
  const roll = random();
  const families: [string, () => FuzzValue][] = [
    ['number', () => ({ family: 'number', text: pick(random, NUMBERS) })],
    ['coordinates', () => ({ family: 'coordinates', text: pick(random, COORDINATES) })],
    ['date', () => ({ family: 'date', text: pick(random, DATES) })],
    [
      'unicode',
      () => ({
        family: 'unicode',
        text:
          pick(random, UNICODE) +
          (random() < 0.5 ? randomUnicode(random, between(random, 1, 40)) : ''),
      }),
    ],
    ['sql', () => ({ family: 'sql', text: pick(random, SQL) })],
    ['path', () => ({ family: 'path', text: pick(random, PATHS) })],
    [
      'bad-encoding',
      () => ({
        family: 'bad-encoding',
        raw: pick(random, RAW) + (random() < 0.3 ? pick(random, RAW) : ''),
      }),
    ],
    ['structured', () => ({ family: 'structured', text: pick(random, STRUCTURED) })],
    ['random', () => ({ family: 'random', text: randomAscii(random, between(random, 1, 64)) })],
    [
      'long',
      () => ({
        family: 'long',
        text: pick(random, ['a', '9', ',', '🏠', '%']).repeat(between(random, 200, 8_000)),
      }),
    ],
  ];
  if (schema.enum && schema.enum.length > 0 && roll < 0.15)
    return { family: 'enum-near-miss', text: nearMiss(random, schema.enum.map(String)) };
  return pick(random, families)[1]();
}

/** A value of `bytes` length (10 KB to 1 MB in the suite): a query value far past any limit. */
export function hugeValue(random: Random, bytes: number): FuzzValue {
  const unit = pick(random, ['a', '1,', '%41', '🏠']);
  const encoded = unit === '🏠' ? encodeURIComponent(unit) : unit;
  return {
    family: `huge-${Math.round(bytes / 1024)}KB`,
    raw: encoded.repeat(Math.ceil(bytes / encoded.length)).slice(0, bytes),
  };
}

/** The value as it goes into a URL. */
export function inUrl(value: FuzzValue): string {
  if (value.raw !== undefined) return value.raw;
  return encodeURIComponent(value.text ?? '');
}
