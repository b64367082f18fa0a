import { between, pick, type Random } from './values.js';

/**
 * What is done to a good feed to make it malformed: byte-level damage that any format can get,
 * and damage that knows the format (etl-files.ts applies them).
 */

export type FeedFormat = 'csv' | 'ndjson' | 'geojson';

/** The CSV header of the good feeds (the columns the fuzz sources map). */
export const HEADER = ['mls_id', 'status', 'price', 'beds', 'address', 'listed', 'lat', 'lon'];

export type Mutation = [
  name: string,
  apply: (good: Buffer, random: Random, format: FeedFormat) => Buffer,
];

export const utf8 = (text: string) => Buffer.from(text, 'utf8');

/** Byte-level damage, any format. */
export const GENERIC: Mutation[] = [
  ['truncated', (b, r) => b.subarray(0, between(r, 1, Math.max(1, b.length - 1)))],
  [
    'byte-flips',
    (b, r) => {
      const out = Buffer.from(b);
      for (let i = between(r, 1, 20); i > 0; i--) {
        const at = between(r, 0, out.length - 1);
        out[at] = (out[at] as number) ^ between(r, 1, 255);
      }
      return out;
    },
  ],
  [
    'random-bytes-inserted',
    (b, r) => {
      const at = between(r, 0, b.length);
      return Buffer.concat([
        b.subarray(0, at),
        Buffer.from(Array.from({ length: between(r, 1, 200) }, () => between(r, 0, 255))),
        b.subarray(at),
      ]);
    },
  ],
  [
    'span-deleted',
    (b, r) => {
      const at = between(r, 0, b.length - 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + between(r, 1, 300))]);
    },
  ],
  [
    'random-file',
    (_b, r) => Buffer.from(Array.from({ length: between(r, 0, 65_536) }, () => between(r, 0, 255))),
  ],
  ['empty', () => Buffer.alloc(0)],
  ['whitespace-only', () => utf8(' \n\t\r\n   \n')],
  [
    'nul-bytes',
    (b, r) => {
      const out = Buffer.from(b);
      for (let i = 0; i < 10; i++) out[between(r, 0, out.length - 1)] = 0;
      return out;
    },
  ],
  [
    'latin1-bytes',
    (b, r) => {
      const at = between(r, 0, b.length);
      return Buffer.concat([b.subarray(0, at), Buffer.from([0xe9, 0xe8, 0xfc]), b.subarray(at)]);
    },
  ],
  [
    'overlong-utf8',
    (b, r) => {
      const at = between(r, 0, b.length);
      return Buffer.concat([
        b.subarray(0, at),
        Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80]),
        b.subarray(at),
      ]);
    },
  ],
  [
    'utf16-with-bom',
    (b) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(b.toString('utf8'), 'utf16le')]),
  ],
  [
    'bom-mid-file',
    (b, r) => {
      const at = between(r, 0, b.length);
      return Buffer.concat([b.subarray(0, at), Buffer.from([0xef, 0xbb, 0xbf]), b.subarray(at)]);
    },
  ],
  ['crlf-and-cr', (b, r) => utf8(b.toString('utf8').replaceAll('\n', pick(r, ['\r\n', '\r'])))],
  [
    'lines-shuffled-and-duplicated',
    (b, r) => {
      const lines = b.toString('utf8').split('\n');
      const out = [lines[0] as string];
      for (let i = 1; i < lines.length * 2; i++) out.push(pick(r, lines));
      return utf8(out.join('\n'));
    },
  ],
];

/** Damage that knows the format. */
export const SPECIFIC: Record<FeedFormat, Mutation[]> = {
  csv: [
    [
      'unclosed-quote',
      (b, r) => {
        const lines = b.toString('utf8').split('\n');
        const at = between(r, 1, lines.length - 2);
        lines[at] = `"${lines[at]}`;
        return utf8(lines.join('\n'));
      },
    ],
    ['quote-mid-field', (b) => utf8(b.toString('utf8').replace(/Pine St/g, 'Pi"ne St'))],
    [
      'extra-and-missing-columns',
      (b, r) => {
        const lines = b.toString('utf8').split('\n');
        for (let i = 1; i < lines.length - 1; i++)
          lines[i] =
            r() < 0.5
              ? `${lines[i]},extra,fields`
              : (lines[i] as string).split(',').slice(0, 3).join(',');
        return utf8(lines.join('\n'));
      },
    ],
    ['header-only', () => utf8(`${HEADER.join(',')}\n`)],
    ['header-duplicated-column', (b) => utf8(b.toString('utf8').replace('beds', 'price'))],
    ['semicolon-delimited', (b) => utf8(b.toString('utf8').replaceAll(',', ';'))],
    [
      'field-over-limit',
      (b, r) => {
        const lines = b.toString('utf8').split('\n');
        const at = between(r, 1, lines.length - 2);
        lines[at] = (lines[at] as string).replace(
          /^([^,]*),([^,]*),/,
          `$1,$2${'9'.repeat(70_000)},`,
        );
        return utf8(lines.join('\n'));
      },
    ],
    [
      'field-of-1MB',
      (b) => utf8(b.toString('utf8').replace(/\n([^,\n]*),/, `\n$1,${'A'.repeat(1_048_576)},`)),
    ],
    [
      'values-hostile',
      (b) =>
        utf8(
          b
            .toString('utf8')
            .replace(/,S,/g, ",'; DROP TABLE listings;--,")
            .replace(/,A,/g, ',\u202E\u0000,'),
        ),
    ],
  ],
  ndjson: [
    [
      'non-object-lines',
      (b) => utf8(`${b.toString('utf8')}[1,2]\n"text"\n42\nnull\n{"unclosed":\n`),
    ],
    [
      'deep-nesting',
      (b, r) => {
        const n = between(r, 1_000, 20_000);
        return Buffer.concat([
          b,
          utf8(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}\n${'['.repeat(n)}\n`),
        ]);
      },
    ],
    [
      'wrong-types',
      (b) =>
        utf8(
          b
            .toString('utf8')
            .replace(/"price":\d+/g, '"price":{"amount":[1]}')
            .replace(/"lat":/g, '"lat":"north",'),
        ),
    ],
    [
      'nan-and-comments',
      (b) =>
        utf8(`${b.toString('utf8')}{"mls_id":"N1","price":NaN}\n// a comment\n{"mls_id":"N2",}\n`),
    ],
    [
      'long-line',
      (b) => Buffer.concat([b, utf8(`{"mls_id":"L1","address":"${'x'.repeat(2_000_000)}"}\n`)]),
    ],
    [
      'duplicate-keys',
      (b) => utf8(b.toString('utf8').replace(/"mls_id":/g, '"mls_id":"dup","mls_id":')),
    ],
  ],
  geojson: [
    [
      'root-not-collection',
      (_b, r) =>
        utf8(
          pick(r, [
            '[]',
            '{}',
            'null',
            '{"type":"Feature"}',
            '{"type":"FeatureCollection"}',
            '{"type":"FeatureCollection","features":{}}',
            '"x"',
          ]),
        ),
    ],
    [
      'geometry-damaged',
      (b, r) => {
        const doc = JSON.parse(b.toString('utf8')) as { features: Record<string, unknown>[] };
        for (const f of doc.features)
          if (r() < 0.4)
            f.geometry = pick(r, [
              null,
              {},
              { type: 'Point' },
              { type: 'Point', coordinates: ['a', 'b'] },
              { type: 'Point', coordinates: [1e308, -1e308] },
              {
                type: 'Polygon',
                coordinates: [
                  [
                    [0, 0],
                    [1, 1],
                    [0, 0],
                  ],
                ],
              },
              { type: 'Point', coordinates: [] },
            ]);
        return utf8(JSON.stringify(doc));
      },
    ],
    [
      'properties-damaged',
      (b, r) => {
        const doc = JSON.parse(b.toString('utf8')) as { features: Record<string, unknown>[] };
        for (const f of doc.features)
          if (r() < 0.4)
            f.properties = pick(r, [
              null,
              [],
              'x',
              { status: { nested: [1, 2] } },
              { price: '1e999' },
            ]);
        return utf8(JSON.stringify(doc));
      },
    ],
    [
      'features-twice',
      (b) => utf8(b.toString('utf8').replace('"features":', '"features":[],"features":')),
    ],
    [
      'deep-properties',
      (b, r) => {
        const n = between(r, 1_000, 20_000);
        return utf8(
          b
            .toString('utf8')
            .replace('"properties":{', `"properties":{"deep":${'['.repeat(n)}${']'.repeat(n)},`),
        );
      },
    ],
    [
      'ids-missing-or-odd',
      (b, r) => {
        const doc = JSON.parse(b.toString('utf8')) as { features: Record<string, unknown>[] };
        for (const f of doc.features)
          if (r() < 0.5) {
            if (r() < 0.5) delete f.id;
            else f.id = pick(r, [null, {}, [], '', 1e308, true]);
          }
        return utf8(JSON.stringify(doc));
      },
    ],
  ],
};
