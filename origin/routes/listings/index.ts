import { createRouter } from '../../http/router.js';
import { compsHandler, compsRoute } from './comps.js';
import { createCursorCodec } from './cursor.js';
import { getHandler, getRoute } from './get.js';
import { searchHandler, searchRoute } from './search-route.js';

export type ListingRoutesOptions = {
  /** Signs pagination cursors; without it, a random per-process secret (see cursor.ts). */
  cursorSecret?: string | undefined;
  /** The secret being rotated out: cursors it signed still verify (new ones use cursorSecret). */
  cursorPreviousSecret?: string | undefined;
};

/**
 * /v1/listings: search, one listing with its history, and its comparable sales.
 *
 * @example
 *   app.route('/v1/listings', createListingRoutes({ cursorSecret: env.CURSOR_SECRET }));
 */
export function createListingRoutes(options: ListingRoutesOptions = {}) {
  const cursors = createCursorCodec(options.cursorSecret, options.cursorPreviousSecret);
  return createRouter()
    .openapi(searchRoute, searchHandler(cursors))
    .openapi(getRoute, getHandler)
    .openapi(compsRoute, compsHandler);
}
