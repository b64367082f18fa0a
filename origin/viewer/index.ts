import { createRouter } from '../http/router.js';

/** Placeholder: the map viewer lands with the API issue. */
export const viewerRoutes = createRouter();
