// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${FEED_…} references are the subject of these tests, not templates
import { describe, expect, it } from 'vitest';
import { expandLocation, literalCredential, redactLocation } from './feed-location.js';
import { feedPolicyFrom, refusedAddress } from './feed-policy.js';

describe('feed locations and their credentials', () => {
  it('accepts references to FEED_ variables and refuses literals and other variables', () => {
    expect(literalCredential('https://${FEED_U}:${FEED_P}@h.example/a.csv?token=${FEED_T}')).toBe(
      undefined,
    );
    expect(literalCredential('https://h.example/a.csv?page=2&format=csv')).toBe(undefined);
    expect(literalCredential('/data/feeds/a.csv')).toBe(undefined);
    expect(literalCredential('https://u:p@h.example/a.csv')).toMatch(/literal password/);
    expect(literalCredential('https://u@h.example/a.csv')).toMatch(/literal user/);
    expect(literalCredential('https://u:${FEED_P}@h.example/a.csv')).toBe(undefined);
    expect(literalCredential('https://h.example/a.csv?access_token=x')).toMatch(/access_token/);
    expect(literalCredential('https://h.example/a.csv?t=1&sig=x')).toMatch(/'sig'/);
    expect(literalCredential('https://h.example/${HOME}/a.csv')).toMatch(/not a feed variable/);
  });

  it('expands references from the environment, encoded, and names a missing one', () => {
    expect(expandLocation('https://h.example/a?token=${FEED_T}', { FEED_T: 'a&b c' })).toBe(
      'https://h.example/a?token=a%26b%20c',
    );
    expect(() => expandLocation('https://h.example/a?token=${FEED_T}', {})).toThrow(
      /\$\{FEED_T\} is referenced by the location but not set/,
    );
  });

  it('shows references as written and hides literals', () => {
    expect(redactLocation('https://${FEED_U}:${FEED_P}@h.example/a.csv?token=${FEED_T}')).toBe(
      'https://${FEED_U}:${FEED_P}@h.example/a.csv?token=${FEED_T}',
    );
    expect(redactLocation('https://u:p@h.example/a.csv?key=k&page=2')).toBe(
      'https://***:***@h.example/a.csv?key=***&page=2',
    );
    expect(redactLocation('/data/feeds/a.csv')).toBe('/data/feeds/a.csv');
  });
});

describe('feed addresses', () => {
  it('refuses special-purpose addresses and passes public ones', () => {
    for (const [address, why] of [
      ['127.0.0.1', 'loopback'],
      ['169.254.169.254', 'link-local (cloud metadata)'],
      ['10.1.2.3', 'private'],
      ['172.20.0.1', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['0.0.0.0', 'this network'],
      ['::1', 'loopback'],
      ['::ffff:127.0.0.1', 'IPv4-mapped'],
      ['fd00::1', 'unique local (private)'],
      ['fe80::1', 'link-local'],
    ] as const)
      expect(refusedAddress(address), address).toBe(why);
    for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111'])
      expect(refusedAddress(address), address).toBe(undefined);
  });

  it('confines files to the samples, plus the temp directory outside production', () => {
    const dev = feedPolicyFrom({ NODE_ENV: 'development', ETL_MAX_BYTES: 1 });
    const prod = feedPolicyFrom({ NODE_ENV: 'production', ETL_MAX_BYTES: 1 });
    expect(dev.fileRoots).toHaveLength(2);
    expect(prod.fileRoots).toHaveLength(1);
    expect(prod.fileRoots[0]).toMatch(/origin\/etl\/samples$/);
  });
});
