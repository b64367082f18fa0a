import { describe, expect, it } from 'vitest';
import { negotiate, negotiateRepresentation } from '../../contract/negotiate.js';
import { repeatedQueryParameter } from '../../contract/query.js';

// contract/ has no test project of its own: both ends import it, and it is plain TypeScript, so
// Node runs its tests here (the edge's cache-key tests run the same function inside workerd).

describe('negotiateRepresentation', () => {
  it('answers JSON without an Accept, or with one that accepts anything', () => {
    for (const accept of [undefined, null, '', '  ', '*/*', 'application/*', 'application/json'])
      expect(negotiateRepresentation(accept), String(accept)).toBe('json');
  });

  it('answers GeoJSON when the client ranks it first', () => {
    for (const accept of [
      'application/geo+json',
      'application/geo+json, */*',
      'application/geo+json, application/json',
      'application/json;q=0.5, application/geo+json',
      'text/html, application/geo+json;q=0.9, */*;q=0.1',
      'APPLICATION/GEO+JSON;Q=1',
      'application/geo+json ; q=1 ; charset=utf-8',
      'application/geo+json;profile="a,b;c"',
    ])
      expect(negotiateRepresentation(accept), accept).toBe('geojson');
  });

  it('honours q=0 as a refusal, in every spelling', () => {
    for (const accept of [
      'application/geo+json;q=0',
      'application/geo+json; q=0.0',
      'application/geo+json;q=0.000, */*',
      'application/geo+json;Q=0, application/json',
      '*/*, application/geo+json;q=0',
    ])
      expect(negotiateRepresentation(accept), accept).toBe('json');
  });

  it('does not match on a substring or an unreadable range', () => {
    for (const accept of [
      'application/geo+jsonx',
      'xapplication/geo+json',
      'application/geo+json/extra',
      'application/geo+json;q=zero',
      'application/geo+json;q=2',
      '*/geo+json',
      'geo+json',
    ])
      expect(negotiateRepresentation(accept), accept).toBe('json');
  });

  it('weighs a preference, then specificity, then the client’s order', () => {
    expect(negotiateRepresentation('application/json, application/geo+json;q=0.5')).toBe('json');
    expect(negotiateRepresentation('application/json;q=0.4, application/geo+json;q=0.5')).toBe(
      'geojson',
    );
    expect(negotiateRepresentation('application/json, application/geo+json')).toBe('json');
    expect(negotiateRepresentation('*/*;q=0.8, application/geo+json;q=0.8')).toBe('geojson');
  });
});

describe('negotiate', () => {
  it('returns undefined when nothing offered is acceptable, the first offer without Accept', () => {
    expect(negotiate('text/html', ['application/json'])).toBeUndefined();
    expect(negotiate('application/json;q=0', ['application/json'])).toBeUndefined();
    expect(negotiate(undefined, ['text/csv', 'application/json'])).toBe('text/csv');
  });

  it('lets the most specific range decide an offer’s weight', () => {
    expect(negotiate('application/*;q=0, application/json', ['text/csv', 'application/json'])).toBe(
      'application/json',
    );
    expect(negotiate('application/*;q=0, */*', ['application/json', 'text/csv'])).toBe('text/csv');
  });

  it('reads a long hostile header in linear time', () => {
    const accept = `${'a/b;q=0.5;x="\\",",'.repeat(2_000)}application/geo+json`;
    const started = performance.now();
    expect(negotiateRepresentation(accept)).toBe('geojson');
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('repeatedQueryParameter', () => {
  it('names the first repeated parameter, decoded', () => {
    expect(repeatedQueryParameter(new URLSearchParams('a=1&b=2'))).toBeUndefined();
    expect(repeatedQueryParameter(new URLSearchParams('a=1&b=2&a=3'))).toBe('a');
    expect(repeatedQueryParameter(new URLSearchParams('price%5Fmax=1&price_max=2'))).toBe(
      'price_max',
    );
    expect(repeatedQueryParameter(new URLSearchParams('a&a='))).toBe('a');
  });
});
