import { describe, expect, it } from 'vitest';
import { routePolicy } from './route-policy';

describe('routePolicy', () => {
  it('asks for the read scope of each data family on GET', () => {
    expect(routePolicy('GET', '/v1/listings/42')).toEqual({
      kind: 'scope',
      anyOf: ['listings:read'],
    });
    expect(routePolicy('GET', '/v1/tiles/3/4/5.mvt')).toEqual({
      kind: 'scope',
      anyOf: ['tiles:read'],
    });
    expect(routePolicy('HEAD', '/v1/stats')).toEqual({ kind: 'scope', anyOf: ['stats:read'] });
    expect(routePolicy('GET', '/v1/areas/seattle')).toEqual({
      kind: 'scope',
      anyOf: ['stats:read'],
    });
  });

  it('lets the more specific ETL rule win over the general one', () => {
    expect(routePolicy('POST', '/v1/etl/runs')).toEqual({ kind: 'scope', anyOf: ['etl:run'] });
    expect(routePolicy('GET', '/v1/etl/runs/7')).toEqual({
      kind: 'scope',
      anyOf: ['etl:read'],
    });
    expect(routePolicy('PUT', '/v1/etl/sources/x')).toEqual({
      kind: 'scope',
      anyOf: ['etl:admin'],
    });
  });

  it('does not let a prefix match a sibling path', () => {
    expect(routePolicy('POST', '/v1/etlx')).toEqual({ kind: 'deny' });
    expect(routePolicy('GET', '/v1/listingsfoo')).toEqual({ kind: 'public' });
  });

  it('keeps the introspection endpoint internal whatever the method or spelling', () => {
    for (const path of [
      '/v1/auth/introspect-key',
      '/V1/Auth/Introspect-Key',
      '/v1//auth/introspect-key/',
      '/v1/auth%2Fintrospect-key',
    ]) {
      expect(routePolicy('POST', path), path).toEqual({
        kind: 'internal',
        scope: 'keys:introspect',
      });
    }
  });

  it('keeps metrics to operators', () => {
    expect(routePolicy('GET', '/metrics')).toEqual({ kind: 'scope', anyOf: ['ops:read'] });
  });

  it('leaves sign-in and preflights open and unknown writes denied', () => {
    expect(routePolicy('POST', '/v1/auth/token')).toEqual({ kind: 'open' });
    expect(routePolicy('OPTIONS', '/v1/audit')).toEqual({ kind: 'open' });
    expect(routePolicy('DELETE', '/v1/listings/1')).toEqual({ kind: 'deny' });
    expect(routePolicy('GET', '/openapi.json')).toEqual({ kind: 'public' });
  });
});
