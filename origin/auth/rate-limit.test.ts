import { describe, expect, it } from 'vitest';
import { addressKey, backoffWait } from './rate-limit.js';

describe('backoffWait', () => {
  const policy = { free: 3, baseSeconds: 1, maxSeconds: 900 };

  it('lets the allowance through without a wait', () => {
    expect(backoffWait({ count: 0, secondsSinceLast: null }, policy)).toBe(0);
    expect(backoffWait({ count: 2, secondsSinceLast: 0 }, policy)).toBe(0);
  });

  it('doubles the wait with each failure past the allowance, counted from the last one', () => {
    expect(backoffWait({ count: 3, secondsSinceLast: 0.2 }, policy)).toBe(1);
    expect(backoffWait({ count: 4, secondsSinceLast: 0.2 }, policy)).toBe(2);
    expect(backoffWait({ count: 6, secondsSinceLast: 0.5 }, policy)).toBe(8);
    expect(backoffWait({ count: 6, secondsSinceLast: 8 }, policy)).toBe(0);
  });

  it('never asks for more than the cap, however many failures', () => {
    expect(backoffWait({ count: 10_000, secondsSinceLast: 0 }, policy)).toBe(900);
  });
});

describe('addressKey', () => {
  it('keys IPv4 by the address and IPv6 by its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });

  it('shares one key for an unknown address', () => {
    expect(addressKey(null)).toBe('unknown');
    expect(addressKey(undefined)).toBe('unknown');
  });
});
