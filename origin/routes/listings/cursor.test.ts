import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../errors.js';
import { createCursorCodec } from './cursor.js';

const payload = { sort: 'price', search: 'abc', key: '525000.00', id: 42 };
const expected = { sort: 'price', search: 'abc' };

function refusal(run: () => unknown): InvalidParameterError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect((error as InvalidParameterError).parameter).toBe('cursor');
    return error as InvalidParameterError;
  }
  throw new Error('expected the cursor to be refused');
}

describe('createCursorCodec', () => {
  it('round-trips a payload as an opaque url-safe string', () => {
    const codec = createCursorCodec('a-secret-long-enough');
    const cursor = codec.encode(payload);
    expect(cursor).toMatch(/^[\w-]+\.[\w-]+$/);
    expect(codec.decode(cursor, expected)).toEqual(payload);
    expect(codec.decode(codec.encode({ ...payload, key: 1234.5678 }), expected).key).toBe(
      1234.5678,
    );
    expect(codec.decode(codec.encode({ ...payload, key: null }), expected).key).toBeNull();
  });

  it('accepts cursors across codecs with the same secret (a restart, another replica)', () => {
    const cursor = createCursorCodec('a-secret-long-enough').encode(payload);
    expect(createCursorCodec('a-secret-long-enough').decode(cursor, expected)).toEqual(payload);
  });

  it('refuses a cursor signed with another secret, or by another process without one', () => {
    const cursor = createCursorCodec('a-secret-long-enough').encode(payload);
    refusal(() => createCursorCodec('another-secret-long-enough').decode(cursor, expected));
    refusal(() => createCursorCodec().decode(createCursorCodec().encode(payload), expected));
  });

  it('refuses any edit of the body or the tag', () => {
    const codec = createCursorCodec('a-secret-long-enough');
    const cursor = codec.encode(payload);
    const [body, tag] = cursor.split('.') as [string, string];
    const edited = Buffer.from(
      Buffer.from(body, 'base64url').toString().replace('42', '43'),
    ).toString('base64url');
    for (const bad of [
      `${edited}.${tag}`,
      `${body}.${tag.slice(1)}`,
      `${body}x.${tag}`,
      body,
      `${cursor}.`,
      '',
      '.',
      '..',
    ]) {
      refusal(() => codec.decode(bad, expected));
    }
  });

  it('refuses a cursor of another sort or search, saying which', () => {
    const codec = createCursorCodec('a-secret-long-enough');
    const cursor = codec.encode(payload);
    expect(refusal(() => codec.decode(cursor, { ...expected, sort: '-price' })).message).toContain(
      'sort=price, not sort=-price',
    );
    expect(refusal(() => codec.decode(cursor, { ...expected, search: 'other' })).message).toContain(
      'another search',
    );
  });

  it('refuses a short secret at creation', () => {
    expect(() => createCursorCodec('short')).toThrow(/16 characters/);
    expect(() => createCursorCodec('a-secret-long-enough', 'short')).toThrow(/PREVIOUS/);
    expect(() => createCursorCodec(undefined, 'a-secret-long-enough')).toThrow(/PREVIOUS/);
  });

  it('accepts cursors of the previous secret during a rotation, and signs new ones with the current', () => {
    const old = createCursorCodec('the-old-secret-long-enough').encode(payload);
    const rotating = createCursorCodec('the-new-secret-long-enough', 'the-old-secret-long-enough');
    expect(rotating.decode(old, expected)).toEqual(payload);
    const fresh = rotating.encode(payload);
    // Signed with the new secret only: the new secret alone reads it, the old one does not.
    expect(createCursorCodec('the-new-secret-long-enough').decode(fresh, expected)).toEqual(
      payload,
    );
    refusal(() => createCursorCodec('the-old-secret-long-enough').decode(fresh, expected));
    // Once the previous secret is removed, the old cursor is refused like any foreign one.
    refusal(() => createCursorCodec('the-new-secret-long-enough').decode(old, expected));
    // A tampered cursor is still refused with both secrets.
    refusal(() => rotating.decode(`${old.slice(0, -2)}AA`, expected));
  });
});
