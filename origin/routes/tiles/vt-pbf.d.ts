/** vt-pbf ships no types; this is the one function the PGlite tile encoder uses. */
declare module 'vt-pbf' {
  type Feature = { id?: number; type: 1 | 2 | 3; geometry: unknown; tags: Record<string, unknown> };
  const vtpbf: {
    fromGeojsonVt(
      layers: Record<string, { features: Feature[] }>,
      options?: { version?: number; extent?: number },
    ): Uint8Array;
  };
  export default vtpbf;
}
