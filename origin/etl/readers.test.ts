import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FeedError } from './errors.js';
import { type ReadItem, readRecords, type SourceRecord, type UnreadableRow } from './readers.js';
import { type Mapping, mappingSchema, type SourceConfig } from './source-config.js';

const mapping = mappingSchema.parse({
  key: { fields: ['id'] },
  fields: { list_price: 'price', city: 'city' },
});
const required = ['id', 'price'];

/** A stream of exactly these chunks, as bytes (not object mode), like a file or a socket. */
function streamOf(...chunks: (string | Buffer)[]): Readable {
  return Readable.from(
    chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)),
    { objectMode: false },
  );
}

async function readAll(
  format: SourceConfig['format'],
  input: Readable,
  options: { mapping?: Mapping; requiredFields?: readonly string[] } = {},
): Promise<ReadItem[]> {
  const items: ReadItem[] = [];
  for await (const item of readRecords(format, input, {
    mapping: options.mapping ?? mapping,
    requiredFields: options.requiredFields ?? required,
  })) {
    items.push(item);
  }
  return items;
}

/** Read until the reader throws; returns the error and the items yielded before it. */
async function readUntilError(
  format: SourceConfig['format'],
  input: Readable,
  options: { mapping?: Mapping; requiredFields?: readonly string[] } = {},
): Promise<{ error: FeedError; items: ReadItem[] }> {
  const items: ReadItem[] = [];
  try {
    for await (const item of readRecords(format, input, {
      mapping: options.mapping ?? mapping,
      requiredFields: options.requiredFields ?? required,
    })) {
      items.push(item);
    }
  } catch (error) {
    expect(error).toBeInstanceOf(FeedError);
    return { error: error as FeedError, items };
  }
  throw new Error(`expected a FeedError, but the reader yielded ${items.length} items and ended`);
}

const records = (items: ReadItem[]) => items.filter((i): i is SourceRecord => i.kind === 'record');
const unreadable = (items: ReadItem[]) =>
  items.filter((i): i is UnreadableRow => i.kind === 'unreadable');

describe('readRecords: CSV', () => {
  it('reads rows as fields keyed by the header, numbering data rows from 1', async () => {
    const items = await readAll('csv', streamOf('id,price,city\n1,100,Seattle\n2,200,Kent\n'));
    expect(items).toHaveLength(2);
    expect(records(items).map((r) => [r.rowNumber, r.fields])).toEqual([
      [1, { id: '1', price: '100', city: 'Seattle' }],
      [2, { id: '2', price: '200', city: 'Kent' }],
    ]);
  });

  it('strips a byte-order mark so the first column keeps its name', async () => {
    const items = await readAll('csv', streamOf('\uFEFFid,price\n1,100\n'));
    expect(records(items)[0]?.fields).toEqual({ id: '1', price: '100' });
  });

  it('reads CRLF line endings without leaving a carriage return in the last field', async () => {
    const items = await readAll(
      'csv',
      streamOf('id,price,city\r\n1,100,Seattle\r\n2,200,Kent\r\n'),
    );
    expect(records(items).map((r) => r.fields.city)).toEqual(['Seattle', 'Kent']);
  });

  it('keeps commas, doubled quotes and newlines inside quoted fields', async () => {
    const items = await readAll(
      'csv',
      streamOf('id,price,city\n1,"1,250,000","Kent, ""south""\nline two"\n2,5,Renton\n'),
    );
    const [first, second] = records(items);
    expect(first?.fields).toEqual({ id: '1', price: '1,250,000', city: 'Kent, "south"\nline two' });
    expect(second?.rowNumber).toBe(2);
    expect(second?.fields.city).toBe('Renton');
  });

  it('rebuilds a quoted CSV line for the rejects table', async () => {
    const items = await readAll('csv', streamOf('id,price,city\n1,"1,000","say ""hi"""\n'));
    expect(records(items)[0]?.raw()).toBe('1,"1,000","say ""hi"""');
  });

  it('turns a truncated last line into an unreadable item and still yields the rows before it', async () => {
    const items = await readAll('csv', streamOf('id,price,city\n1,100,Seattle\n2,200,Kent\n3,30'));
    expect(records(items).map((r) => r.fields.id)).toEqual(['1', '2']);
    const [bad] = unreadable(items);
    expect(unreadable(items)).toHaveLength(1);
    expect(bad?.rowNumber).toBe(3);
    expect(bad?.raw).toBe('3,30');
    expect(bad?.reason).toContain('wrong number of fields');
  });

  it('turns a last line cut inside a quoted field into an unreadable item', async () => {
    const items = await readAll('csv', streamOf('id,price,city\n1,100,Seattle\n2,200,"Ken'));
    expect(records(items).map((r) => r.fields.id)).toEqual(['1']);
    expect(unreadable(items)).toHaveLength(1);
    expect(unreadable(items)[0]?.reason).toMatch(/quoted field is never closed|not valid CSV/);
  });

  it('keeps reading after a row with too many fields in the middle of the file', async () => {
    const items = await readAll('csv', streamOf('id,price\n1,100\n2,200,extra\n3,300\n'));
    expect(items.map((i) => [i.kind, i.rowNumber])).toEqual([
      ['record', 1],
      ['unreadable', 2],
      ['record', 3],
    ]);
  });

  it('refuses a file in another delimiter, saying which delimiter it seems to use', async () => {
    const { error, items } = await readUntilError('csv', streamOf('id;price;city\n1;100;Kent\n'));
    expect(items).toEqual([]);
    expect(error.message).toContain('missing required columns: id, price');
    expect(error.message).toContain('delimited by ";", not ","');
  });

  it('recognises a tab-delimited file read as CSV', async () => {
    const { error } = await readUntilError('csv', streamOf('id\tprice\n1\t100\n'));
    expect(error.message).toContain('delimited by "\\t"');
  });

  it('reads a file in the delimiter the mapping names', async () => {
    const semicolons = mappingSchema.parse({
      key: { fields: ['id'] },
      fields: { list_price: 'price' },
      delimiter: ';',
    });
    const items = await readAll('csv', streamOf('id;price\n1;1,5\n'), { mapping: semicolons });
    expect(records(items)[0]?.fields).toEqual({ id: '1', price: '1,5' });
  });

  it('names every missing required column and shows the header it found', async () => {
    const { error } = await readUntilError('csv', streamOf('ID,cost,city\n1,2,3\n'));
    expect(error.message).toBe(
      'missing required columns: id, price (the header has: ID, cost, city).',
    );
  });

  it('trims blanks around header names', async () => {
    const items = await readAll('csv', streamOf(' id , price \n1,100\n'));
    expect(records(items)[0]?.fields).toEqual({ id: '1', price: '100' });
  });

  it('refuses a header that names a column twice', async () => {
    const { error } = await readUntilError('csv', streamOf('id,price,id\n1,2,3\n'));
    expect(error.message).toBe("the header names column 'id' twice");
  });

  it('refuses an empty file', async () => {
    const { error } = await readUntilError('csv', streamOf(''));
    expect(error.message).toBe('the file is empty: expected a header row');
  });

  it.each(['\n\n\n', '\r\n\r\n'])('refuses the file of blank lines %j as empty', async (text) => {
    const { error } = await readUntilError('csv', streamOf(text));
    expect(error.message).toBe('the file is empty: expected a header row');
  });

  it('reads a header with no rows as zero records, not an error', async () => {
    expect(await readAll('csv', streamOf('id,price\n'))).toEqual([]);
  });

  it('keeps a multi-byte character whole when it is split across two chunks', async () => {
    const bytes = Buffer.from('id,price,city\n1,100,Montréal\n', 'utf8');
    const e = bytes.indexOf(0xc3); // the first of é's two bytes
    const items = await readAll('csv', streamOf(bytes.subarray(0, e + 1), bytes.subarray(e + 1)));
    expect(records(items)[0]?.fields.city).toBe('Montréal');
  });

  it('turns bytes that are not UTF-8 into U+FFFD in the field, for the transform to reject', async () => {
    const latin1 = Buffer.concat([
      Buffer.from('id,price,city\n1,100,Montr'),
      Buffer.from([0xe9]),
      Buffer.from('al\n'),
    ]);
    const items = await readAll('csv', streamOf(latin1));
    expect(records(items)[0]?.fields.city).toBe('Montr\uFFFDal');
  });

  it('reads latin1 bytes as latin1 when the mapping says so', async () => {
    const latin1Mapping = mappingSchema.parse({
      key: { fields: ['id'] },
      fields: { city: 'city' },
      encoding: 'latin1',
    });
    const bytes = Buffer.concat([
      Buffer.from('id,price,city\n1,100,Montr'),
      Buffer.from([0xe9]),
      Buffer.from('al\n'),
    ]);
    const items = await readAll('csv', streamOf(bytes), { mapping: latin1Mapping });
    expect(records(items)[0]?.fields.city).toBe('Montréal');
  });

  it('passes a failure of the input stream on instead of ending quietly', async () => {
    const input = new Readable({
      read() {
        this.push('id,price\n1,100\n');
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(readAll('csv', input)).rejects.toThrow('connection reset');
  });
});

describe('readRecords: NDJSON', () => {
  it('reads one object per line and skips blank lines without counting them', async () => {
    const items = await readAll(
      'ndjson',
      streamOf('{"id":1,"price":100}\n\n   \n{"id":2,"address":{"city":"Kent"}}\r\n'),
    );
    expect(records(items).map((r) => [r.rowNumber, r.fields])).toEqual([
      [1, { id: 1, price: 100 }],
      [2, { id: 2, address: { city: 'Kent' } }],
    ]);
    expect(records(items)[1]?.raw()).toBe('{"id":2,"address":{"city":"Kent"}}');
  });

  it('turns a line of bad JSON into an unreadable item with the reason, and reads on', async () => {
    const items = await readAll('ndjson', streamOf('{"id":1}\n{"id":2,\n{"id":3}\n'));
    expect(items.map((i) => i.kind)).toEqual(['record', 'unreadable', 'record']);
    const [bad] = unreadable(items);
    expect(bad?.rowNumber).toBe(2);
    expect(bad?.raw).toBe('{"id":2,');
    expect(bad?.reason).toMatch(/^not valid JSON: /);
  });

  it.each(['[1,2]', '42', '"text"', 'null', 'true'])(
    'turns the non-object line %s into an unreadable item',
    async (line) => {
      const items = await readAll('ndjson', streamOf(`${line}\n{"id":1}\n`));
      expect(unreadable(items)).toEqual([
        { kind: 'unreadable', rowNumber: 1, raw: line, reason: 'each line must be a JSON object' },
      ]);
      expect(records(items)).toHaveLength(1);
    },
  );

  it('reads a last line without a newline', async () => {
    const items = await readAll('ndjson', streamOf('{"id":1}\n{"id":2}'));
    expect(records(items).map((r) => r.fields.id)).toEqual([1, 2]);
  });

  it('refuses an empty file', async () => {
    const { error } = await readUntilError('ndjson', streamOf(''));
    expect(error.message).toBe('the file is empty: expected one JSON object per line');
  });

  it('refuses a file of blank lines as empty', async () => {
    const { error } = await readUntilError('ndjson', streamOf('\n  \n\n'));
    expect(error.message).toContain('the file is empty');
  });
});

const feature = (id: unknown, coordinates: unknown, properties: Record<string, unknown> = {}) => ({
  type: 'Feature',
  id,
  geometry: { type: 'Point', coordinates },
  properties,
});

describe('readRecords: GeoJSON', () => {
  it('exposes a point as $lon, $lat and $id beside its properties', async () => {
    const collection = {
      type: 'FeatureCollection',
      features: [feature('a1', [-122.3, 47.6], { price: 100 }), feature(7, [-122.1, 47.5, 12])],
    };
    const items = await readAll('geojson', streamOf(JSON.stringify(collection)));
    expect(records(items).map((r) => [r.rowNumber, r.fields])).toEqual([
      [1, { price: 100, $id: 'a1', $lon: -122.3, $lat: 47.6 }],
      [2, { $id: 7, $lon: -122.1, $lat: 47.5 }],
    ]);
  });

  it('reads features split across many small chunks', async () => {
    const text = JSON.stringify({
      type: 'FeatureCollection',
      features: [feature(1, [1, 2]), feature(2, [3, 4])],
    });
    const chunks = text.match(/.{1,7}/gs) ?? [];
    const items = await readAll('geojson', streamOf(...chunks));
    expect(records(items).map((r) => r.fields.$id)).toEqual([1, 2]);
  });

  it('turns a non-Point geometry into an unreadable item naming its type, and reads on', async () => {
    const polygon = {
      type: 'Feature',
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [1, 0],
            [1, 1],
            [0, 0],
          ],
        ],
      },
      properties: {},
    };
    const collection = { type: 'FeatureCollection', features: [polygon, feature(2, [1, 2])] };
    const items = await readAll('geojson', streamOf(JSON.stringify(collection)));
    expect(items.map((i) => i.kind)).toEqual(['unreadable', 'record']);
    expect(unreadable(items)[0]?.reason).toBe(
      'geometry must be a Point with [lon, lat], got Polygon',
    );
    expect(unreadable(items)[0]?.raw).toContain('Polygon');
  });

  it('turns a point with one coordinate, or something that is not a Feature, into unreadable items', async () => {
    const collection = {
      type: 'FeatureCollection',
      features: [feature(1, [5]), { type: 'Point', coordinates: [1, 2] }, 42],
    };
    const items = await readAll('geojson', streamOf(JSON.stringify(collection)));
    expect(unreadable(items).map((i) => i.reason)).toEqual([
      'geometry must be a Point with [lon, lat], got Point',
      'not a GeoJSON Feature',
      'not a GeoJSON Feature',
    ]);
  });

  it('clips the raw text of a huge unreadable feature', async () => {
    const collection = {
      type: 'FeatureCollection',
      features: [
        {
          type: 'Feature',
          geometry: { type: 'LineString', coordinates: [] },
          properties: { blob: 'x'.repeat(100_000) },
        },
      ],
    };
    const items = await readAll('geojson', streamOf(JSON.stringify(collection)));
    expect(unreadable(items)[0]?.raw.length).toBeLessThan(4200);
  });

  it('refuses malformed JSON', async () => {
    const { error } = await readUntilError(
      'geojson',
      streamOf('{"type":"FeatureCollection","features":[{"type":"Feature",'),
    );
    expect(error.message).toMatch(/^the file is not a valid GeoJSON FeatureCollection: /);
  });

  it('refuses a collection with no features', async () => {
    const { error } = await readUntilError(
      'geojson',
      streamOf('{"type":"FeatureCollection","features":[]}'),
    );
    expect(error.message).toBe('the GeoJSON file has no features');
  });

  it('refuses a JSON document without a features array', async () => {
    const { error } = await readUntilError(
      'geojson',
      streamOf('{"type":"Feature","geometry":null}'),
    );
    expect(error.message).toBe('the GeoJSON file has no features');
  });

  it('refuses an empty file', async () => {
    const { error } = await readUntilError('geojson', streamOf(''));
    expect(error.message).toMatch(/no features|not a valid GeoJSON/);
  });
});
