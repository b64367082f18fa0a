import { compileErrors, validate } from '@readme/openapi-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp } from '../origin/app.js';
import type { Database } from '../origin/db/database.js';
import { createLogger } from '../origin/logger.js';

/**
 * The OpenAPI document, checked against the rules of OpenAPI 3.1 that matter to a client
 * generator, and for completeness: every route the app serves under /v1, /health and /metrics is
 * in it. The document is also validated against the official OpenAPI 3.1 schema
 * (@readme/openapi-parser), which checks what the structural rules below do not.
 */

/** Every documented path and the methods it must have. */
const EXPECTED: Record<string, string[]> = {
  '/health': ['get'],
  '/health/ready': ['get'],
  '/metrics': ['get'],
  '/v1/listings': ['get'],
  '/v1/listings/{id}': ['get'],
  '/v1/listings/{id}/comps': ['get'],
  '/v1/stats': ['get'],
  '/v1/areas': ['get'],
  '/v1/areas/{id}': ['get'],
  '/v1/tiles/listings/{z}/{x}/{y}.mvt': ['get'],
  '/v1/tiles/listings.json': ['get'],
  '/v1/etl/runs': ['get', 'post'],
  '/v1/etl/runs/{id}': ['get'],
  '/v1/etl/runs/{id}/rejects': ['get'],
  '/v1/etl/sources/{name}': ['get', 'put'],
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const reference = z.strictObject({ $ref: z.string().startsWith('#/') });
const mediaType = z.object({ schema: z.unknown().optional(), example: z.unknown().optional() });
const parameter = z.union([
  reference,
  z
    .object({
      name: z.string().min(1),
      in: z.enum(['query', 'header', 'path', 'cookie']),
      required: z.boolean().optional(),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      content: z.record(z.string(), mediaType).optional(),
    })
    .refine(
      (p) => p.in !== 'path' || p.required === true,
      'a path parameter must be required: true',
    )
    .refine(
      (p) => (p.schema === undefined) !== (p.content === undefined),
      'a parameter has schema or content, not both',
    ),
]);
const response = z.union([
  reference,
  z.object({
    description: z.string(),
    headers: z.record(z.string(), z.unknown()).optional(),
    content: z.record(z.string().regex(/^[\w.+-]+\/[\w.+*-]+(;.*)?$/), mediaType).optional(),
  }),
]);
const operation = z.object({
  tags: z.array(z.string()).optional(),
  summary: z.string().optional(),
  description: z.string().optional(),
  operationId: z.string().optional(),
  parameters: z.array(parameter).optional(),
  requestBody: z
    .union([
      reference,
      z.object({ required: z.boolean().optional(), content: z.record(z.string(), mediaType) }),
    ])
    .optional(),
  responses: z
    .record(
      z.string().regex(/^([1-5]\d\d|[1-5]XX|default)$/, 'a status code, nXX or default'),
      response,
    )
    .refine((r) => Object.keys(r).length > 0, 'an operation needs at least one response'),
});
const pathItem = z
  .object({ parameters: z.array(parameter).optional(), summary: z.string().optional() })
  .extend(Object.fromEntries(METHODS.map((m) => [m, operation.optional()])));
const document = z.object({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.object({ title: z.string().min(1), version: z.string().min(1) }),
  paths: z.record(z.string().regex(/^\//, 'paths start with /'), pathItem),
  components: z
    .object({ schemas: z.record(z.string().regex(/^[a-zA-Z0-9._-]+$/), z.unknown()).optional() })
    .optional(),
  webhooks: z.unknown().optional(),
  tags: z.array(z.object({ name: z.string() })).optional(),
});

type Doc = z.infer<typeof document> & Record<string, unknown>;
type Operation = z.infer<typeof operation>;
let app: ReturnType<typeof createApp>;
let doc: Doc;

function operations(d: Doc): { path: string; method: string; op: Operation }[] {
  return Object.entries(d.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({
      path,
      method,
      op: item[method] as Operation,
    })),
  );
}

/**
 * Hono's route path as OpenAPI writes it: `:id` is `{id}`, and a parameter whose pattern ends in
 * a fixed extension (`:y{[^/]+\.mvt}`, how a router matches `{y}.mvt`) is `{y}.mvt`.
 */
function openApiPath(honoPath: string): string {
  return honoPath
    .replace(/:(\w+)\{[^}]*?\\\.(\w+)\}/g, '{$1}.$2')
    .replace(/:(\w+)(\{[^}]*\})?/g, '{$1}')
    .replace(/(.)\/$/, '$1');
}

function resolveRef(d: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>(
      (node, key) =>
        (node as Record<string, unknown> | undefined)?.[
          key.replaceAll('~1', '/').replaceAll('~0', '~')
        ],
      d,
    );
}

beforeAll(async () => {
  // The document is built from the route definitions alone: no database is touched.
  app = createApp({ db: {} as Database, logger: createLogger('silent') });
  const res = await app.request('/openapi.json');
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});

describe('GET /openapi.json', () => {
  it('validates against the official OpenAPI 3.1 schema', async () => {
    // validate() dereferences in place: give it a copy.
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? '' : compileErrors(result)).toBe('');
  });

  it('is an OpenAPI 3.1 document with a valid structure', () => {
    const result = document.safeParse(doc);
    const issues = result.success
      ? []
      : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues).toEqual([]);
  });

  it.each(Object.entries(EXPECTED))('documents %s', (path, methods) => {
    expect(Object.keys(doc.paths)).toContain(path);
    for (const method of methods)
      expect(doc.paths[path]?.[method as 'get'], `${method} ${path}`).toBeDefined();
  });

  it('documents every route the app serves under /v1, /health and /metrics', () => {
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && /^\/(v1|health|metrics)(\/|$)/.test(r.path))
        .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`),
    );
    const documented = new Set(operations(doc).map(({ path, method }) => `${method} ${path}`));
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
  });

  it('declares each path template parameter, and only those, as a path parameter', () => {
    const problems: string[] = [];
    for (const { path, method, op } of operations(doc)) {
      const inTemplate = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const pathParams = (doc.paths[path]?.parameters ?? []) as NonNullable<
        Operation['parameters']
      >;
      const params = [...pathParams, ...(op.parameters ?? [])].map((p) =>
        '$ref' in p ? (resolveRef(doc, p.$ref) as { name: string; in: string }) : p,
      );
      const declared = params
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      if (JSON.stringify(inTemplate) !== JSON.stringify(declared)) {
        problems.push(`${method} ${path}: template ${inTemplate} vs declared ${declared}`);
      }
      const keys = params.map((p) => `${p.in}:${p.name}`);
      if (new Set(keys).size !== keys.length)
        problems.push(`${method} ${path}: duplicate parameters`);
    }
    expect(problems).toEqual([]);
  });

  it('gives every operation a summary, a success response and a problem+json error response', () => {
    const problems: string[] = [];
    for (const { path, method, op } of operations(doc)) {
      const statuses = Object.keys(op.responses);
      if (!op.summary) problems.push(`${method} ${path}: no summary`);
      if (!statuses.some((s) => /^2/.test(s))) problems.push(`${method} ${path}: no 2xx response`);
      const hasParameters = (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined;
      const problemJson = Object.entries(op.responses).some(
        ([status, r]) =>
          /^[45]/.test(status) && 'content' in r && r.content?.['application/problem+json'],
      );
      if (hasParameters && !problemJson)
        problems.push(`${method} ${path}: takes input but documents no problem+json error`);
    }
    expect(problems).toEqual([]);
  });

  it('has unique operation ids, where there are any', () => {
    const ids = operations(doc)
      .map(({ op }) => op.operationId)
      .filter((id): id is string => id !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('resolves every $ref inside the document', () => {
    const broken: string[] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) {
        for (const [i, n] of node.entries()) walk(n, `${at}/${i}`);
      } else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref' && typeof value === 'string') {
            if (!value.startsWith('#/') || resolveRef(doc, value) === undefined)
              broken.push(`${at}: ${value}`);
          } else walk(value, `${at}/${key}`);
        }
      }
    };
    walk(doc, '#');
    expect(broken).toEqual([]);
  });
});
