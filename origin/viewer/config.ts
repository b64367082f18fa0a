import { z } from 'zod';

/**
 * The viewer's one setting, `VIEWER_BASEMAP_URL`: a raster tile template
 * (`https://tiles.example/{z}/{x}/{y}.png`) or a MapLibre style URL for a vector basemap. Unset,
 * the map has a plain background and needs no internet at all.
 */
const basemapSchema = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .optional()
  .transform((v) => (v ? v.replaceAll('%7B', '{').replaceAll('%7D', '}') : undefined));

export type ViewerConfig = { basemapUrl: string | undefined };

/** Checked when the module loads, so a bad value stops the process at start with its name. */
export function viewerConfigFromEnv(
  env: Record<string, string | undefined> = process.env,
): ViewerConfig {
  const raw = env.VIEWER_BASEMAP_URL?.trim() || undefined;
  const parsed = basemapSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `invalid environment: VIEWER_BASEMAP_URL must be an http(s) URL (a tile template or a style URL)`,
    );
  }
  return { basemapUrl: parsed.data };
}

/** The Content-Security-Policy of the viewer's page: no inline script, MapLibre's needs only. */
export function viewerCsp(config: ViewerConfig): string {
  const basemap = config.basemapUrl
    ? ` ${new URL(config.basemapUrl.replace(/[{}]/g, '')).origin}`
    : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    // MapLibre starts its worker from a same-origin module URL, or a blob: wrapper of it.
    "worker-src 'self' blob:",
    "child-src 'self' blob:",
    `img-src 'self' data: blob:${basemap}`,
    `connect-src 'self'${basemap}`,
    "style-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
