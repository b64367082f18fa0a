/**
 * autocannon, typed: it is CommonJS without types, so this is the part of its API the load
 * generators use (README, v8+): bench/edge/load.ts and bench/api/load-autocannon.ts.
 */
import { createRequire } from 'node:module';

export type AutocannonRequest = {
  method: string;
  path: string;
  setupRequest?: (r: AutocannonRequest) => AutocannonRequest;
};

export type AutocannonOptions = {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
  headers?: Record<string, string>;
  timeout?: number;
};

export type AutocannonResult = {
  errors: number;
  timeouts: number;
  /** Seconds the run lasted. */
  duration: number;
  totalBytes?: number;
  statusCodeStats: Record<string, { count: number }>;
};

type Instance = {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, ms: number) => void,
  ): void;
};

type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => Instance;

export const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
