import {
  between,
  type FuzzValue,
  fuzzValue,
  hugeValue,
  inUrl,
  pick,
  type Random,
} from './values.js';

/** One hostile request, ready to send byte for byte. */
export type FuzzCase = {
  /** `GET /v1/listings/{id}`: what the report counts by. */
  endpoint: string;
  method: string;
  /** Path and query exactly as they go on the request line. */
  target: string;
  headers: Record<string, string>;
  body?: string;
  /** Which values were used: `number`, `sql`, `huge-1024KB`, `repeated`, `body:deep`... */
  family: string;
};

type Schema = {
  type?: string;
  enum?: unknown[];
  example?: unknown;
  default?: unknown;
  properties?: Record<string, Schema>;
  items?: Schema;
  $ref?: string;
};
type Parameter = { name: string; in: 'query' | 'path' | 'header'; schema?: Schema };
type Operation = {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
};
export type OpenApiDocument = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
};

export type Endpoint = {
  name: string;
  method: string;
  path: string;
  query: Parameter[];
  pathParams: Parameter[];
  body?: { contentType: string; schema: Schema };
};

/**
 * Every operation of the origin's /openapi.json, plus the public GETs it does not describe (the
 * viewer's page and assets, the API reference page): the surface a client can reach.
 */
export function endpointsOf(doc: OpenApiDocument, viewerPaths: readonly string[]): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const parameters = operation.parameters ?? [];
      const [contentType, media] = Object.entries(operation.requestBody?.content ?? {})[0] ?? [];
      out.push({
        name: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        query: parameters.filter((p) => p.in === 'query'),
        pathParams: parameters.filter((p) => p.in === 'path'),
        ...(contentType && media
          ? { body: { contentType, schema: resolve(doc, media.schema) } }
          : {}),
      });
    }
  }
  for (const path of ['/', '/docs', ...viewerPaths.filter((p) => p.startsWith('/viewer/'))])
    out.push({ name: `GET ${path}`, method: 'GET', path, query: [], pathParams: [] });
  // One viewer asset that does not exist: the asset router's own parsing of the name.
  out.push({
    name: 'GET /viewer/assets/{file}',
    method: 'GET',
    path: '/viewer/assets/{file}',
    query: [],
    pathParams: [{ name: 'file', in: 'path' }],
  });
  return out;
}

function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.split('/').at(-1) as string;
  return doc.components?.schemas?.[name] ?? {};
}

/** A plausible value from the schema: its example, default or first enum value. */
function plausible(parameter: Parameter): string {
  const schema = parameter.schema ?? {};
  const value = schema.example ?? schema.default ?? schema.enum?.[0];
  if (value !== undefined) return String(value);
  if (parameter.in === 'path') return '1';
  return schema.type === 'integer' || schema.type === 'number' ? '1' : 'x';
}

export type CaseOptions = {
  cases: number;
  /** Sizes (bytes) of the huge query values to send, one case each. */
  hugeSizes: readonly number[];
  /** Add hostile credentials and headers to some cases (the edge parses them). */
  headerFuzz: boolean;
};

/**
 * `options.cases` hostile requests for one endpoint, then one per huge size. Most fuzz one
 * parameter and leave the others plausible, so validation is reached past the first check;
 * the rest fuzz everything at once, repeat parameters, add unknown ones, or send a hostile body.
 */
export function casesFor(endpoint: Endpoint, random: Random, options: CaseOptions): FuzzCase[] {
  const out: FuzzCase[] = [];
  const all = [...endpoint.query, ...endpoint.pathParams];
  for (let i = 0; i < options.cases; i++) {
    const values = new Map<Parameter, FuzzValue | string>(all.map((p) => [p, plausible(p)]));
    const extra: [string, string][] = [];
    let family: string;
    let body: { text: string; contentType?: string; family: string } | undefined;
    const strategy = random();
    if (endpoint.body && strategy < 0.4) {
      body = fuzzBody(endpoint.body, random);
      family = body.family;
    } else if (all.length > 0 && strategy < 0.75) {
      const target = pick(random, all);
      const value = fuzzValue(random, target.schema);
      values.set(target, value);
      family = value.family;
    } else if (all.length > 0 && strategy < 0.85) {
      for (const p of all) values.set(p, fuzzValue(random, p.schema));
      family = 'all-parameters';
    } else if (endpoint.query.length > 0 && strategy < 0.93) {
      const repeated = pick(random, endpoint.query);
      const times = between(random, 2, 50);
      for (let k = 0; k < times; k++)
        extra.push([
          repeated.name,
          inUrl(
            random() < 0.5
              ? fuzzValue(random, repeated.schema)
              : { family: '', text: plausible(repeated) },
          ),
        ]);
      family = 'repeated';
    } else {
      const count = between(random, 1, 20);
      for (let k = 0; k < count; k++)
        extra.push([inUrl(fuzzValue(random)) || 'x', inUrl(fuzzValue(random))]);
      family = 'unknown-parameters';
    }
    out.push(build(endpoint, values, extra, family, body, options.headerFuzz ? random : undefined));
  }
  for (const size of options.hugeSizes) {
    const values = new Map<Parameter, FuzzValue | string>(all.map((p) => [p, plausible(p)]));
    const huge = hugeValue(random, size);
    const extra: [string, string][] = [];
    if (endpoint.query.length > 0) values.set(pick(random, endpoint.query), huge);
    else extra.push(['q', huge.raw as string]);
    out.push(build(endpoint, values, extra, huge.family, undefined, undefined));
  }
  return out;
}

function build(
  endpoint: Endpoint,
  values: Map<Parameter, FuzzValue | string>,
  extra: [string, string][],
  family: string,
  body: { text: string; contentType?: string } | undefined,
  headerRandom: Random | undefined,
): FuzzCase {
  const encoded = (v: FuzzValue | string) =>
    typeof v === 'string' ? encodeURIComponent(v) : inUrl(v);
  let path = endpoint.path;
  for (const [p, v] of values)
    if (p.in === 'path') path = path.replace(`{${p.name}}`, encoded(v) || '%20');
  const query = [
    ...[...values].filter(([p]) => p.in === 'query').map(([p, v]) => `${p.name}=${encoded(v)}`),
    ...extra.map(([k, v]) => `${k}=${v}`),
  ];
  const headers: Record<string, string> = {};
  if (body?.contentType) headers['Content-Type'] = body.contentType;
  if (headerRandom && headerRandom() < 0.1) Object.assign(headers, hostileHeaders(headerRandom));
  return {
    endpoint: endpoint.name,
    method: endpoint.method,
    target: query.length > 0 ? `${path}?${query.join('&')}` : path,
    headers,
    ...(body ? { body: body.text } : {}),
    family: body
      ? family
      : Object.keys(headers).some((h) => h !== 'Content-Type')
        ? `${family}+headers`
        : family,
  };
}

/** Credentials and headers the edge parses before anything else. */
function hostileHeaders(random: Random): Record<string, string> {
  const junk = () =>
    Array.from({ length: between(random, 1, 300) }, () =>
      String.fromCharCode(33 + Math.floor(random() * 94)),
    ).join('');
  const choices: Record<string, string>[] = [
    { Authorization: `Bearer ${junk()}` },
    { Authorization: `Bearer ee_${junk()}` },
    { Authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyOjEifQ.' },
    { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
    { Authorization: junk() },
    { 'X-API-Key': junk() },
    { 'X-API-Key': `ee_${'A'.repeat(4_000)}` },
    { 'X-Request-Id': junk() },
    { Accept: 'application/geo+json' },
    { Accept: junk() },
    { 'If-None-Match': junk() },
    { 'Accept-Encoding': junk() },
  ];
  return pick(random, choices);
}

/** A hostile body for a JSON (or GeoJSON) endpoint: broken syntax, wrong shapes, extremes. */
function fuzzBody(
  spec: { contentType: string; schema: Schema },
  random: Random,
): { text: string; contentType?: string; family: string } {
  const shaped = () => {
    // The schema's fields, each plausible, one of them hostile: validation past the first field.
    const object: Record<string, unknown> = {};
    const names = Object.keys(spec.schema.properties ?? {});
    for (const name of names) object[name] = 'x';
    const target = names.length > 0 ? pick(random, names) : 'x';
    const v = fuzzValue(random);
    object[target] = pick(random, [
      v.text ?? v.raw,
      Number(v.text),
      [v.text],
      { v: v.text },
      null,
      true,
      1e308,
      -1,
    ]);
    return JSON.stringify(object);
  };
  const choices: [string, () => string, string?][] = [
    ['body:shaped', shaped],
    ['body:shaped', shaped],
    ['body:shaped', shaped],
    [
      'body:broken-json',
      () =>
        pick(random, [
          '{',
          '{"a":',
          '}',
          '[',
          '{"a":1,}',
          "{'a':1}",
          'NaN',
          '{"a":NaN}',
          '\u0000',
          '{"a":"\\u00"}',
          '{"a":1}{"b":2}',
        ]),
    ],
    [
      'body:wrong-type',
      () => pick(random, ['null', '[]', '"x"', '1', 'true', '1e999', '[{}]', '{}']),
    ],
    ['body:empty', () => ''],
    ['body:deep', () => `${'['.repeat(between(random, 1_000, 100_000))}${']'.repeat(0)}`],
    [
      'body:deep-closed',
      () => {
        const n = between(random, 1_000, 50_000);
        return `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
      },
    ],
    [
      'body:many-keys',
      () =>
        JSON.stringify(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]))),
    ],
    [
      'body:large-string',
      () => JSON.stringify({ name: 'x'.repeat(between(random, 100_000, 1_000_000)) }),
    ],
    [
      'body:prototype',
      () =>
        pick(random, [
          '{"__proto__":{"admin":true},"email":"a@b.c","password":"x"}',
          '{"constructor":{"prototype":{"role":"admin"}}}',
        ]),
    ],
    [
      'body:random-bytes',
      () =>
        Array.from({ length: between(random, 1, 2_000) }, () =>
          String.fromCharCode(Math.floor(random() * 256)),
        ).join(''),
    ],
    [
      'body:content-type',
      shaped,
      pick(random, [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'application/xml',
        '',
      ]),
    ],
  ];
  const [family, make, contentType] = pick(random, choices);
  return {
    text: make(),
    contentType: contentType === undefined ? spec.contentType : contentType,
    family,
  };
}
