// What the recording origin (recording-origin.ts, run by Vitest's globalSetup in Node) and the
// tests (in workerd) agree on. Nothing here may import Node or Worker APIs.

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the recording server that stands in for the origin. */
    originUrl: string;
    /** A 127.0.0.1 URL on which nothing listens: connections are refused. */
    closedOriginUrl: string;
  }
}

/** What the stand-in origin saw of one request. */
export type RecordedRequest = {
  method: string;
  /** Path and query exactly as they arrived on the wire. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
};

/** `GET <originUrl>/__recordings/<request id>` returns the RecordedRequest[] for that id. */
export const recordingsPath = '/__recordings/';
