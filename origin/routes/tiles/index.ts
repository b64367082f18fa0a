import { createRouter } from '../../http/router.js';

/** Placeholder: filled in by the API issue. */
export const tileRoutes = createRouter();
