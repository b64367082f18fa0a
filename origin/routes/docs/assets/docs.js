// Renders /openapi.json as a readable page. Plain DOM with textContent only (nothing from the
// document is ever parsed as HTML), no inline script and no network but this origin: it works
// offline and under a strict Content-Security-Policy.

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** Follow a local $ref ("#/components/schemas/X"); anything else is shown as it is. */
function resolve(doc, value) {
  let current = value;
  for (let hops = 0; current && typeof current.$ref === 'string' && hops < 20; hops += 1) {
    const ref = current.$ref;
    if (!ref.startsWith('#/')) return current;
    current = ref
      .slice(2)
      .split('/')
      .reduce(
        (node, key) => (node ? node[key.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined),
        doc,
      );
  }
  return current || {};
}

/** A one-line type: "string (date-time)", "integer ≤ 500", "array of Listing", "a | b". */
function typeOf(doc, schema) {
  if (!schema) return '';
  if (schema.$ref) return schema.$ref.split('/').pop();
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    if (Array.isArray(schema[key]))
      return schema[key].map((s) => typeOf(doc, s)).join(key === 'allOf' ? ' & ' : ' | ');
  }
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type || 'any';
  if (type === 'array') return `array of ${typeOf(doc, schema.items)}`;
  const bits = [type];
  if (schema.format) bits.push(`(${schema.format})`);
  if (schema.minimum !== undefined) bits.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) bits.push(`≤ ${schema.maximum}`);
  if (schema.maxLength !== undefined) bits.push(`max ${schema.maxLength} chars`);
  if (schema.pattern) bits.push(`matching /${schema.pattern}/`);
  if (schema.default !== undefined) bits.push(`default ${JSON.stringify(schema.default)}`);
  return bits.join(' ');
}

/** A schema with its $refs inlined (once each, so cycles end), for the <pre> views. */
function expand(doc, schema, seen = new Set()) {
  if (Array.isArray(schema)) return schema.map((s) => expand(doc, s, seen));
  if (!schema || typeof schema !== 'object') return schema;
  if (typeof schema.$ref === 'string') {
    if (seen.has(schema.$ref)) return { $ref: schema.$ref };
    const next = new Set(seen).add(schema.$ref);
    return expand(doc, resolve(doc, schema), next);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, expand(doc, v, seen)]));
}

function parametersTable(doc, parameters) {
  if (!parameters.length) return null;
  const rows = parameters.map((raw) => {
    const p = resolve(doc, raw);
    return el(
      'tr',
      {},
      el(
        'td',
        {},
        el('code', {}, p.name || ''),
        p.required ? el('span', { class: 'required' }, 'required') : null,
      ),
      el('td', {}, p.in || ''),
      el('td', {}, typeOf(doc, p.schema)),
      el('td', {}, p.description || p.schema?.description || ''),
    );
  });
  return el(
    'table',
    {},
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', {}, 'name'),
        el('th', {}, 'in'),
        el('th', {}, 'type'),
        el('th', {}, 'description'),
      ),
    ),
    el('tbody', {}, ...rows),
  );
}

function contentBlock(doc, content) {
  const blocks = [];
  for (const [type, media] of Object.entries(content || {})) {
    const details = el(
      'details',
      {},
      el('summary', {}, el('code', {}, type), ' ', typeOf(doc, media.schema)),
    );
    details.append(el('pre', {}, JSON.stringify(expand(doc, media.schema), null, 2)));
    blocks.push(details);
  }
  return blocks;
}

function operationSection(doc, path, method, op, id) {
  const section = el('section', { class: 'op', id });
  section.dataset.search = [method, path, op.summary, op.description, ...(op.tags || [])]
    .join(' ')
    .toLowerCase();
  // append() would write a null as the text "null": leave the missing parts out.
  section.append(
    ...[
      el('h2', {}, el('span', { class: `method m-${method}` }, method), path),
      op.summary ? el('p', { class: 'summary' }, op.summary) : null,
      op.description ? el('p', { class: 'desc' }, op.description) : null,
    ].filter(Boolean),
  );
  const params = [...(doc.paths[path].parameters || []), ...(op.parameters || [])];
  if (params.length) section.append(el('h4', {}, 'Parameters'), parametersTable(doc, params));
  if (op.requestBody) {
    const body = resolve(doc, op.requestBody);
    section.append(
      el('h4', {}, `Request body${body.required ? ' (required)' : ''}`),
      ...contentBlock(doc, body.content),
    );
  }
  const responses = Object.entries(op.responses || {}).map(([status, raw]) => {
    const response = resolve(doc, raw);
    const headers = Object.keys(response.headers || {});
    return el(
      'tr',
      {},
      el('td', {}, el('code', {}, status)),
      el(
        'td',
        {},
        response.description || '',
        headers.length ? el('div', {}, 'Headers: ', headers.join(', ')) : null,
        ...contentBlock(doc, response.content),
      ),
    );
  });
  section.append(
    el('h4', {}, 'Responses'),
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, el('th', {}, 'status'), el('th', {}, 'description'))),
      el('tbody', {}, ...responses),
    ),
  );
  return section;
}

function render(doc) {
  const info = doc.info || {};
  document.title = info.title || document.title;
  document.getElementById('title').textContent =
    `${info.title || 'API'} ${info.version ? `v${info.version}` : ''}`;
  const summary = document.getElementById('summary');
  summary.textContent = `OpenAPI ${doc.openapi || '?'} · `;
  summary.append(el('a', { href: '/openapi.json' }, 'openapi.json'));
  if (info.description) summary.append(` · ${info.description}`);

  const byTag = new Map();
  let count = 0;
  for (const path of Object.keys(doc.paths || {}).sort()) {
    for (const method of METHODS) {
      const op = doc.paths[path][method];
      if (!op) continue;
      const tag = op.tags?.[0] || 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op, id: `op-${count}` });
      count += 1;
    }
  }
  const toc = document.getElementById('toc');
  const main = document.getElementById('operations');
  for (const [tag, ops] of [...byTag.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    toc.append(el('h3', {}, tag));
    main.append(el('h3', {}, tag));
    for (const { path, method, op, id } of ops) {
      toc.append(el('a', { href: `#${id}`, 'data-op': id }, `${method.toUpperCase()} ${path}`));
      main.append(operationSection(doc, path, method, op, id));
    }
  }

  document.getElementById('filter').addEventListener('input', (event) => {
    const needle = event.target.value.trim().toLowerCase();
    for (const section of main.querySelectorAll('section.op')) {
      const hide = needle !== '' && !section.dataset.search.includes(needle);
      section.classList.toggle('hidden', hide);
      const link = toc.querySelector(`[data-op="${section.id}"]`);
      if (link) link.classList.toggle('hidden', hide);
    }
  });
}

fetch('/openapi.json', { headers: { Accept: 'application/json' } })
  .then((response) => {
    if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
    return response.json();
  })
  .then(render)
  .catch((error) => {
    const summary = document.getElementById('summary');
    summary.textContent = `Could not load the API description: ${error.message}`;
    summary.className = 'error';
  });
