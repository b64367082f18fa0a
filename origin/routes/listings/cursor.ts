import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidParameterError } from '../../errors.js';

/**
 * Opaque keyset cursors: the last row's sort key and id, the sort they were made for, and a
 * fingerprint of the search (where + filters), as base64url JSON followed by an HMAC-SHA256 tag.
 *
 * Signed rather than merely encoded because the key is bound into SQL: a client that could forge
 * one could page from any point of any sort. It is not secret (anyone can base64-decode it), only
 * unforgeable.
 */
export type CursorPayload = {
  /** The sort the cursor was made for (`price`, `-listed`, `distance`, ...). */
  sort: string;
  /** A short hash of the search's where and filters: a cursor only continues its own search. */
  search: string;
  /** The last row's sort key (a numeric or date as text, or a distance in metres); null for id order. */
  key: string | number | null;
  /** The last row's id: the tiebreak that makes the order total. */
  id: number;
};

export type CursorCodec = {
  encode(payload: CursorPayload): string;
  /** The payload of a cursor this codec signed, checked against the current search; else an InvalidParameterError naming `cursor`. */
  decode(cursor: string, expected: { sort: string; search: string }): CursorPayload;
};

/** 16 bytes of tag: forging one is 2^128 work, and the cursor stays short. */
const TAG_BYTES = 16;

/**
 * A codec signing with `secret` (CURSOR_SECRET). Without one it draws a random per-process
 * secret: cursors then stop working across a restart or between origin replicas, which costs a
 * client one "start again" but never a wrong page.
 *
 * `previous` (CURSOR_SECRET_PREVIOUS) is the secret being rotated out: cursors it signed still
 * decode, so a client paging through a rotation is not sent back to page one; new cursors are
 * signed with `secret` only.
 *
 * @example
 *   const cursors = createCursorCodec(process.env.CURSOR_SECRET, process.env.CURSOR_SECRET_PREVIOUS);
 *   const next = cursors.encode({ sort: 'price', search, key: '525000', id: 42 });
 *   cursors.decode(next, { sort: 'price', search }); // { sort: 'price', ..., id: 42 }
 */
export function createCursorCodec(secret?: string, previous?: string): CursorCodec {
  if (secret !== undefined && secret.length < 16) {
    throw new Error('CURSOR_SECRET must be at least 16 characters');
  }
  if (previous !== undefined && (secret === undefined || previous.length < 16)) {
    throw new Error('CURSOR_SECRET_PREVIOUS must be at least 16 characters, beside CURSOR_SECRET');
  }
  const key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  const keys = previous ? [key, Buffer.from(previous, 'utf8')] : [key];
  const tagWith = (k: Buffer, body: string) =>
    createHmac('sha256', k).update(body).digest().subarray(0, TAG_BYTES);
  const tag = (body: string) => tagWith(key, body);
  // Every key is tried (no early exit), so the time taken does not say which one matched.
  const signedByUs = (body: string, given: Buffer) =>
    keys
      .map((k) => {
        const wanted = tagWith(k, body);
        return given.length === wanted.length && timingSafeEqual(given, wanted);
      })
      .includes(true);

  return {
    encode(payload) {
      const body = Buffer.from(
        JSON.stringify([payload.sort, payload.search, payload.key, payload.id]),
      ).toString('base64url');
      return `${body}.${tag(body).toString('base64url')}`;
    },
    decode(cursor, expected) {
      const invalid = (why: string) => new InvalidParameterError('cursor', why);
      const [body, signature, ...rest] = cursor.split('.');
      if (!body || !signature || rest.length > 0) throw invalid('not a cursor from this API');
      if (!signedByUs(body, Buffer.from(signature, 'base64url'))) {
        throw invalid('the cursor was altered or made by another server; start again without it');
      }
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        throw invalid('not a cursor from this API');
      }
      // Signed by us, so well-formed unless the format changed between versions.
      if (!Array.isArray(decoded) || decoded.length !== 4)
        throw invalid('not a cursor from this API');
      const [sort, search, sortKey, id] = decoded as [unknown, unknown, unknown, unknown];
      if (
        typeof sort !== 'string' ||
        typeof search !== 'string' ||
        !(sortKey === null || typeof sortKey === 'string' || typeof sortKey === 'number') ||
        typeof id !== 'number' ||
        !Number.isSafeInteger(id)
      ) {
        throw invalid('not a cursor from this API');
      }
      if (sort !== expected.sort) {
        throw invalid(`the cursor was made for sort=${sort}, not sort=${expected.sort}`);
      }
      if (search !== expected.search) {
        throw invalid('the cursor was made for another search (where or filters changed)');
      }
      return { sort, search, key: sortKey, id };
    },
  };
}
