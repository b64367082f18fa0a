/**
 * Content negotiation, written once for both ends (STYLE.md: "What both ends must agree on is
 * written once"): the origin picks the format of its answer with it, and the edge keys its cache
 * with the same pick (edge/middleware/edge-cache/key.ts). When the two decided apart, one
 * request could plant its answer under another's key: the edge keyed GeoJSON on the substring
 * `application/geo+json` while the origin honoured `;q=0`, so `Accept: application/geo+json;q=0`
 * stored JSON where GeoJSON clients were answered from (issue 13, finding 2).
 *
 * Plain TypeScript over strings, no runtime imports: the Worker's bundle and the Node origin
 * both take it as it is.
 */

/**
 * Every representation the API chooses by `Accept`, the server's preference first (JSON unless
 * asked otherwise). A route that answers by Accept offers from this table only: the edge keys on
 * the winner among all of them, so a format chosen outside it would be a cache key the edge
 * cannot see.
 */
export const representations = {
  json: 'application/json',
  geojson: 'application/geo+json',
} as const;
export type Representation = keyof typeof representations;

const representationNames = Object.keys(representations) as Representation[];
const representationTypes = representationNames.map((name) => representations[name]);

/** One media range of an Accept header: `type/subtype` (either may be `*`) and its weight. */
type MediaRange = { type: string; subtype: string; q: number; position: number };

/** How closely a range names a type: `*\/*` 0, `application/*` 1, `application/json` 2. */
type Match = { q: number; specificity: number; position: number };

/**
 * The representation a request with this `Accept` gets: GeoJSON only when the client ranks it
 * above JSON (RFC 9110 §12.5.1), JSON otherwise, including when Accept is absent or accepts
 * neither (RFC 9110 allows disregarding an Accept that nothing satisfies; JSON serves such a client
 * better than a 406).
 *
 * @example
 *   negotiateRepresentation('application/geo+json') // 'geojson'
 *   negotiateRepresentation('application/geo+json;q=0, *\/*') // 'json'
 *   negotiateRepresentation(undefined) // 'json'
 */
export function negotiateRepresentation(accept: string | null | undefined): Representation {
  const type = negotiate(accept, representationTypes);
  return representationNames.find((name) => representations[name] === type) ?? 'json';
}

/**
 * The offer the client prefers, by RFC 9110 §12.5.1 as the `negotiator` package (Express's)
 * reads it: each offer takes the weight of the most specific range that matches it (so
 * `application/geo+json;q=0, *\/*` refuses GeoJSON and accepts the rest); a weight of 0 or no
 * matching range means not acceptable. Among acceptable offers: the highest weight, then the
 * most specific range (`application/geo+json, *\/*` is GeoJSON), then the range the client
 * listed first, then the order of `offers`. No header (or an empty one): the first offer.
 * Undefined when the header accepts none of them.
 *
 * Media-type parameters other than q (`;charset=utf-8`, `;profile=...`) are ignored for
 * matching; a range that is malformed or has a weight outside 0..1 is skipped as unreadable.
 *
 * @example
 *   negotiate('text/html, application/json;q=0.9', ['application/json', 'text/csv'])
 *   // 'application/json'
 */
export function negotiate<T extends string>(
  accept: string | null | undefined,
  offers: readonly T[],
): T | undefined {
  if (accept === null || accept === undefined || accept.trim() === '') return offers[0];
  const ranges = parseAccept(accept);
  let best: { offer: T; match: Match; index: number } | undefined;
  offers.forEach((offer, index) => {
    const match = matchOf(offer, ranges);
    if (!match || match.q <= 0) return;
    if (!best || better(match, index, best.match, best.index)) best = { offer, match, index };
  });
  return best?.offer;
}

function better(a: Match, aIndex: number, b: Match, bIndex: number): boolean {
  if (a.q !== b.q) return a.q > b.q;
  if (a.specificity !== b.specificity) return a.specificity > b.specificity;
  if (a.position !== b.position) return a.position < b.position;
  return aIndex < bIndex;
}

/** The range that governs `offer`: the most specific that matches, then the highest weight. */
function matchOf(offer: string, ranges: readonly MediaRange[]): Match | undefined {
  const [type, subtype] = offer.toLowerCase().split('/');
  let found: Match | undefined;
  for (const range of ranges) {
    const specificity =
      range.type === type && range.subtype === subtype
        ? 2
        : range.type === type && range.subtype === '*'
          ? 1
          : range.type === '*' && range.subtype === '*'
            ? 0
            : -1;
    if (specificity < 0) continue;
    if (
      !found ||
      specificity > found.specificity ||
      (specificity === found.specificity && range.q > found.q)
    )
      found = { q: range.q, specificity, position: range.position };
  }
  return found;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const WEIGHT = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/** The readable media ranges of an Accept header, in the order the client gave them. */
function parseAccept(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  splitOutsideQuotes(accept, ',').forEach((element, position) => {
    const [mediaType = '', ...params] = splitOutsideQuotes(element, ';');
    const [type, subtype, extra] = mediaType.trim().toLowerCase().split('/');
    if (!type || !subtype || extra !== undefined || !TOKEN.test(type) || !TOKEN.test(subtype))
      return;
    // `*/json` is no media range (RFC 9110 §12.5.1): only the subtype may be a lone wildcard.
    if (type === '*' && subtype !== '*') return;
    let q = 1;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
      const value = param.slice(eq + 1).trim();
      // An unreadable weight makes the range unreadable: guessing 1 would turn a refusal
      // (`q=zero`) into a preference.
      if (!WEIGHT.test(value) || Number(value) > 1) return;
      q = Number(value);
      break; // the first q ends the media type's parameters (RFC 9110 §12.4.2)
    }
    ranges.push({ type, subtype, q, position });
  });
  return ranges;
}

/** Splits on `separator` except inside a quoted-string (`;foo="a,b"` is one parameter). */
function splitOutsideQuotes(text: string, separator: ',' | ';'): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === '\\') {
      current += char + (text[i + 1] ?? '');
      i++;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}
