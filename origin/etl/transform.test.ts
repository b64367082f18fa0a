import { describe, expect, it } from 'vitest';
import { mappingSchema } from './source-config.js';
import { compileTransform, type StagedListing, type TransformResult } from './transform.js';

/** A King County-like mapping plus a status code, the shape most feeds take. */
const baseMapping = {
  key: {
    fields: ['id', { from: 'date', type: 'date', formats: ['M/D/YYYY', 'YYYYMMDDTHHmmss'] }],
    separator: ':',
  },
  fields: {
    standard_status: { from: 'status', values: { A: 'Active', P: 'Pending', S: 'Closed' } },
    list_price: 'price',
    bedrooms_total: 'bedrooms',
    lot_size_area: { from: 'acres', scale: 43_560 },
    close_date: { from: 'date', formats: ['M/D/YYYY', 'YYYYMMDDTHHmmss'] },
    latitude: 'lat',
    longitude: 'long',
  },
  defaults: { standard_status: 'Closed', state_or_province: 'WA', country: 'US' },
  bounds: [-123.0, 46.9, -120.9, 48.0],
};

const transform = compileTransform(mappingSchema.parse(baseMapping));

/** A valid row of the base mapping, with some fields replaced. */
function row(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '7129300520',
    date: '10/13/2014',
    status: 'A',
    price: '221900.0',
    bedrooms: '3',
    acres: '0.5',
    lat: '47.5112',
    long: '-122.257',
    ...overrides,
  };
}

function listingOf(result: TransformResult): StagedListing {
  if (!result.ok) throw new Error(`expected a listing, got the reason: ${result.reason}`);
  return result.listing;
}

function reasonOf(result: TransformResult): string {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.listing)}`);
  return result.reason;
}

describe('compileTransform', () => {
  it('turns a valid row into a staged listing with converted values', () => {
    const listing = listingOf(transform(row()));
    expect(listing).toMatchObject({
      source_key: '7129300520:2014-10-13',
      standard_status: 'Active',
      list_price: 221_900,
      bedrooms_total: 3,
      lot_size_area: 21_780,
      close_date: '2014-10-13',
      latitude: 47.5112,
      longitude: -122.257,
      state_or_province: 'WA',
      country: 'US',
      city: null,
      year_built: null,
    });
  });

  it('translates status codes through the mapping’s values', () => {
    expect(listingOf(transform(row({ status: 'P' }))).standard_status).toBe('Pending');
    expect(listingOf(transform(row({ status: ' S ' }))).standard_status).toBe('Closed');
  });

  it('passes an untranslated status through, so an unknown code is rejected with the list of statuses', () => {
    const reason = reasonOf(transform(row({ status: 'X' })));
    expect(reason).toContain("standard_status: 'X' is not a RESO StandardStatus (");
    expect(reason).toContain('Active');
  });

  it('does not translate a status that names a member of Object.prototype', () => {
    // `value in m.values` also sees inherited keys: 'constructor' would become a function.
    const reason = reasonOf(transform(row({ status: 'constructor' })));
    expect(reason).toContain("'constructor' is not a RESO StandardStatus");
  });

  it('uses a default when the field is empty and the field’s value when it is not', () => {
    expect(listingOf(transform(row({ status: '' }))).standard_status).toBe('Closed');
    expect(listingOf(transform(row({ status: '?' }))).standard_status).toBe('Closed');
    expect(listingOf(transform(row({ status: undefined }))).standard_status).toBe('Closed');
    expect(listingOf(transform(row({ status: 'A' }))).standard_status).toBe('Active');
  });

  it('requires a status when there is neither a value nor a default', () => {
    const noDefault = compileTransform(mappingSchema.parse({ ...baseMapping, defaults: {} }));
    expect(reasonOf(noDefault(row({ status: '' })))).toBe(
      'standard_status: is required (map a field or set a default)',
    );
  });

  it('builds the key from several fields, reading a date-typed part in any of its formats', () => {
    expect(listingOf(transform(row({ date: '20141013T000000' }))).source_key).toBe(
      '7129300520:2014-10-13',
    );
    expect(listingOf(transform(row({ date: '1/2/2015' }))).source_key).toBe(
      '7129300520:2015-01-02',
    );
  });

  it('rejects a row whose key part is empty, naming the field', () => {
    expect(reasonOf(transform(row({ id: '' })))).toBe("key field 'id' is empty");
    expect(reasonOf(transform(row({ id: '?' })))).toBe("key field 'id' is empty");
  });

  it('rejects a row whose date key part is not a real date', () => {
    expect(reasonOf(transform(row({ date: '2/30/2014' })))).toBe(
      "key: '2/30/2014' is not a real date",
    );
  });

  it('rejects a key longer than 256 characters', () => {
    expect(reasonOf(transform(row({ id: '9'.repeat(300) })))).toContain(
      'source_key: the key is longer than 256 characters',
    );
  });

  it('rejects a negative price', () => {
    expect(reasonOf(transform(row({ price: '-5' })))).toBe(
      'list_price: must not be negative (got -5)',
    );
  });

  it('rejects a price that is not a number, naming the field and its source column', () => {
    expect(reasonOf(transform(row({ price: 'call agent' })))).toBe(
      "list_price (from 'price'): 'call agent' is not a number",
    );
  });

  it('rejects a fractional bedroom count', () => {
    expect(reasonOf(transform(row({ bedrooms: '2.5' })))).toBe(
      "bedrooms_total (from 'bedrooms'): '2.5' is not a whole number",
    );
  });

  it.each([
    [{ lat: '91' }, 'latitude: must be between -90 and 90 (got 91)'],
    [{ lat: '-90.5' }, 'latitude: must be between -90 and 90 (got -90.5)'],
    [{ long: '181' }, 'longitude: must be between -180 and 180 (got 181)'],
  ])('rejects the coordinate %j as out of range', (overrides, reason) => {
    expect(reasonOf(transform(row(overrides)))).toBe(reason);
  });

  it('rejects a latitude without a longitude', () => {
    expect(reasonOf(transform(row({ long: '' })))).toContain(
      'latitude: latitude and longitude must be given together',
    );
  });

  it('accepts a row with no coordinates at all', () => {
    const listing = listingOf(transform(row({ lat: '', long: '' })));
    expect(listing.latitude).toBeNull();
    expect(listing.longitude).toBeNull();
  });

  it('rejects swapped coordinates, saying they look swapped', () => {
    const reason = reasonOf(transform(row({ lat: '-122.257', long: '47.5112' })));
    expect(reason).toContain('latitude and longitude look swapped');
    expect(reason).toContain('-122.257');
  });

  it('rejects a zeroed point outside the bounds without calling it swapped', () => {
    const reason = reasonOf(transform(row({ lat: '0', long: '0' })));
    expect(reason).toContain("is outside the source's bounds");
    expect(reason).not.toContain('swapped');
  });

  it('rejects a 10 MB field, naming the limit, with a short reason', () => {
    const reason = reasonOf(transform(row({ remarks: 'x'.repeat(10 * 1024 * 1024) })));
    expect(reason).toBe("field 'remarks' is 10,485,760 characters long; the limit is 65,536");
    expect(reason.length).toBeLessThan(200);
  });

  it('clips a huge field name in the reason', () => {
    const name = 'n'.repeat(100_000);
    const reason = reasonOf(transform(row({ [name]: 'x'.repeat(70_000) })));
    expect(reason.length).toBeLessThan(200);
    expect(reason).toContain('the limit is 65,536');
  });

  it('applies the mapping’s own maxFieldLength', () => {
    const strict = compileTransform(mappingSchema.parse({ ...baseMapping, maxFieldLength: 16 }));
    expect(reasonOf(strict(row({ note: '12345678901234567' })))).toBe(
      "field 'note' is 17 characters long; the limit is 16",
    );
  });

  it('rejects a NUL character, which PostgreSQL cannot store', () => {
    expect(reasonOf(transform(row({ price: '100\u0000' })))).toBe(
      "field 'price' contains a NUL character, which PostgreSQL cannot store",
    );
    expect(reasonOf(transform(row({ nested: { deep: 'a\u0000b' } })))).toContain(
      'contains a NUL character',
    );
  });

  it('rejects bytes that were not valid UTF-8, suggesting the encoding setting', () => {
    const reason = reasonOf(transform(row({ status: 'Montr\uFFFDal' })));
    expect(reason).toContain('not valid UTF-8');
    expect(reason).toContain('latin1');
  });

  it('keeps unmapped fields in extra, but not null-valued ones nor mapped ones', () => {
    const listing = listingOf(
      transform(
        row({
          grade: '7',
          waterfront: '',
          view: '?',
          floors: null,
          yr_renovated: ' ? ',
          condition: '3',
        }),
      ),
    );
    expect(listing.extra).toEqual({ grade: '7', condition: '3' });
  });

  it('keeps extra empty when the mapping says not to keep it', () => {
    const noExtra = compileTransform(mappingSchema.parse({ ...baseMapping, keepExtra: false }));
    expect(listingOf(noExtra(row({ grade: '7' }))).extra).toEqual({});
  });

  it('keeps a field named __proto__ in extra as data', () => {
    const record = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const listing = listingOf(transform({ ...row(), ...record }));
    expect(Object.keys(listing.extra)).toContain('__proto__');
    expect((listing.extra as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('reads nested JSON fields by dot path and keeps JSON numbers as numbers', () => {
    const json = compileTransform(
      mappingSchema.parse({
        key: { fields: ['$id'] },
        fields: { city: 'address.city', list_price: 'price', latitude: '$lat', longitude: '$lon' },
        defaults: { standard_status: 'Active' },
      }),
    );
    const listing = listingOf(
      json({ $id: 17, address: { city: 'Kent' }, price: 350_000, $lat: 47.4, $lon: -122.2 }),
    );
    expect(listing).toMatchObject({
      source_key: '17',
      city: 'Kent',
      list_price: 350_000,
      latitude: 47.4,
      longitude: -122.2,
    });
    expect(listing.extra).toEqual({});
  });

  it('rejects a JSON value of the wrong kind, saying what it got', () => {
    const json = compileTransform(
      mappingSchema.parse({
        key: { fields: ['id'] },
        fields: { list_price: 'price' },
        defaults: { standard_status: 'Active' },
      }),
    );
    expect(reasonOf(json({ id: 1, price: [1, 2] }))).toBe(
      "list_price (from 'price'): expected number, got an array",
    );
    expect(reasonOf(json({ id: 1, price: true }))).toBe(
      "list_price (from 'price'): expected number, got boolean",
    );
  });
});
