// The listings map. Plain ES module, no build step: MapLibre's ESM build is imported from its
// versioned URL (the server writes it in below), and everything else is the DOM.
import * as maplibregl from '__MAPLIBRE_JS__';

const config = JSON.parse(document.querySelector('meta[name="estate-edge-config"]').content);

/** Colours by RESO status: green for on the market, amber for under contract, blue for sold. */
const STATUS_COLORS = {
  Active: '#2e9e44',
  'Coming Soon': '#8e44ad',
  'Active Under Contract': '#9bc53d',
  Pending: '#f2a81d',
  Closed: '#2f6fb6',
  Hold: '#8d6e63',
  Expired: '#7a7a7a',
  Withdrawn: '#a9a9a9',
  Canceled: '#c0392b',
};
const OTHER_COLOR = '#455a64';

const money = new Intl.NumberFormat('en-US', {
  style: 'currency',
  currency: 'USD',
  maximumFractionDigits: 0,
});
const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

// Tile URLs must be absolute (the worker resolves against its own URL), and built as text:
// new URL() would percent-encode the {z}/{x}/{y} placeholders.
const absolute = (path) => `${window.location.origin}${path}`;

function baseStyle() {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef1f4' } }],
  };
  // A raster basemap given as a tile template; a vector basemap is given as its style URL instead.
  if (config.basemap?.includes('{z}')) {
    style.sources.basemap = { type: 'raster', tiles: [config.basemap], tileSize: 256 };
    style.layers.push({ id: 'basemap', type: 'raster', source: 'basemap' });
  }
  return style;
}

const map = new maplibregl.Map({
  container: 'map',
  style: config.basemap && !config.basemap.includes('{z}') ? config.basemap : baseStyle(),
  center: config.center ?? [-122.3, 47.5],
  zoom: config.zoom ?? 9,
  attributionControl: { compact: true },
});
// One readable line per map error (MapLibre's default prints a minified class name), and none
// for tile requests cancelled by panning or by a filter change.
map.on('error', (event) => {
  const error = event.error ?? {};
  if (error.name === 'AbortError') return;
  console.error(
    `map error${event.sourceId ? ` in source ${event.sourceId}` : ''}: ${error.status ?? ''} ${error.message ?? error}`,
  );
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');

// --- filters -------------------------------------------------------------------------------
const form = document.getElementById('filters');
const statusBox = document.getElementById('status-options');
const typeSelect = document.getElementById('type');
const filterError = document.getElementById('filter-error');

for (const status of config.statuses) {
  const label = document.createElement('label');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.name = 'status';
  box.value = status;
  const swatch = document.createElement('span');
  swatch.className = 'swatch';
  swatch.style.background = STATUS_COLORS[status] ?? OTHER_COLOR;
  label.append(box, swatch, document.createTextNode(status));
  statusBox.append(label);
}

const knownTypes = new Set();
function addTypes(types) {
  for (const type of types) {
    if (typeof type !== 'string' || !type || knownTypes.has(type)) continue;
    knownTypes.add(type);
    const option = document.createElement('option');
    option.value = type;
    option.textContent = type;
    typeSelect.append(option);
  }
}
addTypes(config.types);

/** The tile query for the form's state, or an error message naming the bad field. */
function readFilters() {
  const params = new URLSearchParams();
  const statuses = [...form.querySelectorAll('input[name=status]:checked')].map((b) => b.value);
  if (statuses.length > 0) params.set('status', statuses.join(','));
  if (typeSelect.value) params.set('type', typeSelect.value);
  for (const name of ['price_min', 'price_max']) {
    const value = form.elements[name].value.replace(/[\s,$]/g, '');
    if (value === '') continue;
    if (!/^\d{1,13}$/.test(value))
      return { error: `${name.replace('_', ' ')} must be a whole amount` };
    params.set(name, value);
  }
  const min = params.get('price_min');
  const max = params.get('price_max');
  if (min && max && Number(min) > Number(max)) return { error: 'min price is above max price' };
  return { query: params.toString() };
}

let tileQuery = '';
function tileUrl() {
  return absolute(`${config.tiles}${tileQuery ? `?${tileQuery}` : ''}`);
}

function applyFilters() {
  const { query, error } = readFilters();
  filterError.hidden = !error;
  filterError.textContent = error ?? '';
  if (error) return;
  tileQuery = query;
  document.body.dataset.tileQuery = tileQuery;
  map.getSource('listings')?.setTiles([tileUrl()]);
}
form.addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilters();
});
form.addEventListener('reset', () => setTimeout(applyFilters, 0));

// --- the listings layer ----------------------------------------------------------------------
function addListings() {
  map.addSource('listings', {
    type: 'vector',
    tiles: [tileUrl()],
    minzoom: 0,
    maxzoom: config.maxzoom ?? 16,
  });
  const colors = ['match', ['get', 'standard_status']];
  for (const [status, color] of Object.entries(STATUS_COLORS)) colors.push(status, color);
  colors.push(OTHER_COLOR);
  // Zoomed out (and in any tile too dense for points) the tiles carry cells: one circle per
  // cell, its area growing with the listings it stands for, its colour the cell's median price.
  map.addLayer({
    id: 'listing-clusters',
    type: 'circle',
    source: 'listings',
    'source-layer': 'listing_clusters',
    paint: {
      'circle-color': [
        'interpolate',
        ['linear'],
        ['coalesce', ['get', 'median_price'], 0],
        250000,
        '#2f6fb6',
        600000,
        '#f2a81d',
        1500000,
        '#c0392b',
      ],
      'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'count']], 1, 3, 10, 8, 60, 22],
      'circle-opacity': 0.7,
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': 1,
    },
  });
  map.addLayer({
    id: 'listings',
    type: 'circle',
    source: 'listings',
    'source-layer': 'listings',
    paint: {
      'circle-color': colors,
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 6, 1.5, 10, 3, 14, 6, 17, 9],
      'circle-opacity': 0.85,
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': ['interpolate', ['linear'], ['zoom'], 9, 0, 13, 1],
    },
  });
}

map.on('load', async () => {
  addListings();
  try {
    const res = await fetch(config.tilejson);
    if (res.ok) {
      const tj = await res.json();
      if (Array.isArray(tj.bounds) && !map.__movedByUser) {
        map.fitBounds(tj.bounds, { padding: 30, animate: false, maxZoom: 13 });
      }
    }
  } catch {
    // Without TileJSON the map keeps its default view; the tiles still load.
  }
  map.once('idle', () => {
    document.body.dataset.ready = 'true';
  });
});
map.on('dragstart', () => {
  map.__movedByUser = true;
});

// --- popup: the listing, then its comps -------------------------------------------------------
map.on('mouseenter', 'listings', () => {
  map.getCanvas().style.cursor = 'pointer';
});
map.on('mouseleave', 'listings', () => {
  map.getCanvas().style.cursor = '';
});

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function details(rows) {
  const dl = el('dl');
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === '') continue;
    dl.append(el('dt', label), el('dd', value));
  }
  return dl;
}

/** Accept the listing either bare or wrapped: the detail endpoint's envelope is not ours. */
function unwrap(body) {
  if (!body || typeof body !== 'object') return {};
  return body.listing ?? body.item ?? body.data ?? body;
}

async function fetchJson(path) {
  try {
    const res = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!res.ok) return { ok: false, status: res.status };
    return { ok: true, body: await res.json() };
  } catch (error) {
    return { ok: false, status: 0, error };
  }
}

let openPopup;
map.on('mouseenter', 'listing-clusters', () => {
  map.getCanvas().style.cursor = 'pointer';
});
map.on('mouseleave', 'listing-clusters', () => {
  map.getCanvas().style.cursor = '';
});
// A cell: how many listings, their median price, and a zoom in towards them.
map.on('click', 'listing-clusters', (event) => {
  const feature = event.features?.[0];
  if (!feature) return;
  const p = feature.properties;
  const root = el('div', undefined, 'popup cluster');
  root.dataset.count = String(p.count);
  root.append(el('h3', `${number.format(p.count)} listing${p.count === 1 ? '' : 's'}`));
  root.append(
    el(
      'div',
      p.median_price !== undefined ? `median ${money.format(p.median_price)}` : 'price unknown',
      'price',
    ),
  );
  openPopup?.remove();
  openPopup = new maplibregl.Popup({ maxWidth: '240px' })
    .setLngLat(feature.geometry.coordinates)
    .setDOMContent(root)
    .addTo(map);
  map.easeTo({ center: feature.geometry.coordinates, zoom: map.getZoom() + 2 });
});

map.on('click', 'listings', async (event) => {
  const feature = event.features?.[0];
  if (!feature) return;
  const p = feature.properties;
  const id = feature.id ?? p.id;
  const price = p.price ?? p.close_price ?? p.list_price;

  const root = el('div', undefined, 'popup');
  root.dataset.listingId = String(id);
  root.append(el('h3', `${p.property_type ?? 'Listing'} · ${p.standard_status}`));
  root.append(el('div', price !== undefined ? money.format(price) : 'price unknown', 'price'));
  const facts = details([
    ['Beds', p.bedrooms_total],
    ['Living area', p.living_area ? `${number.format(p.living_area)} sq ft` : undefined],
    ['Per sq ft', p.price_per_sqft ? money.format(p.price_per_sqft) : undefined],
    ['Listing', `#${id}`],
  ]);
  root.append(facts);
  const more = el('div', 'Loading details…', 'muted');
  const comps = el('div', 'Loading comparables…', 'comps muted');
  root.append(more, comps);

  openPopup?.remove();
  openPopup = new maplibregl.Popup({ maxWidth: '320px' })
    .setLngLat(feature.geometry.coordinates)
    .setDOMContent(root)
    .addTo(map);

  const listing = await fetchJson(`/v1/listings/${encodeURIComponent(id)}`);
  if (listing.ok) {
    const l = unwrap(listing.body);
    const address =
      l.unparsed_address ?? [l.street_number, l.street_name].filter(Boolean).join(' ');
    more.className = '';
    more.replaceChildren(
      details([
        ['Address', [address, l.city, l.postal_code].filter(Boolean).join(', ')],
        ['Baths', l.bathrooms_total],
        ['Built', l.year_built],
        ['Listed', l.listing_contract_date],
        ['Closed', l.close_date],
        ['History', Array.isArray(l.history) ? `${l.history.length} change(s)` : undefined],
      ]),
    );
  } else {
    more.textContent = `More details unavailable (${listing.status || 'network error'}).`;
  }

  const result = await fetchJson(`/v1/listings/${encodeURIComponent(id)}/comps`);
  if (!result.ok) {
    comps.textContent = `Comparables unavailable (${result.status || 'network error'}).`;
    return;
  }
  const body = result.body ?? {};
  const items = body.comps ?? body.items ?? body.data ?? [];
  const estimate =
    body.estimate?.value ??
    body.estimate?.price ??
    (typeof body.estimate === 'number' ? body.estimate : undefined);
  comps.className = 'comps';
  comps.replaceChildren(
    el('strong', `${items.length} comparable sale${items.length === 1 ? '' : 's'}`),
  );
  if (estimate !== undefined) comps.append(el('div', `Estimate: ${money.format(estimate)}`));
  const list = el('ul');
  for (const c of items.slice(0, 5)) {
    const cp = c.close_price ?? c.price;
    const d = c.distance_m ?? c.distance;
    list.append(
      el(
        'li',
        [cp !== undefined ? money.format(cp) : '?', d !== undefined ? `${number.format(d)} m` : '']
          .filter(Boolean)
          .join(' · '),
      ),
    );
  }
  comps.append(list);
});

// --- stats for the visible area -------------------------------------------------------------
const statsBody = document.getElementById('stats-body');

function viewBbox() {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const round = (v) => Math.round(v * 1e5) / 1e5;
  const x0 = round(clamp(b.getWest(), -180, 180));
  const x1 = round(clamp(b.getEast(), -180, 180));
  const y0 = round(clamp(b.getSouth(), -90, 90));
  const y1 = round(clamp(b.getNorth(), -90, 90));
  return x0 < x1 && y0 < y1 ? `${x0},${y0},${x1},${y1}` : undefined;
}

function pick(row, names) {
  for (const name of names) {
    const path = name.split('.');
    let v = row;
    for (const part of path) v = v?.[part];
    if (typeof v === 'number') return v;
  }
  return undefined;
}

let statsRequest = 0;
async function refreshStats() {
  const bbox = viewBbox();
  if (!bbox) return;
  const mine = ++statsRequest;
  const result = await fetchJson(`/v1/stats?bbox=${bbox}&group=type`);
  if (mine !== statsRequest) return;
  if (!result.ok) {
    statsBody.className = 'muted';
    statsBody.textContent = `Statistics unavailable (${result.status || 'network error'}).`;
    return;
  }
  const body = result.body ?? {};
  const groups = Array.isArray(body) ? body : (body.groups ?? body.items ?? body.data ?? []);
  if (groups.length === 0) {
    statsBody.className = 'muted';
    statsBody.textContent = 'No listings in view.';
    return;
  }
  const table = el('table');
  const head = el('tr');
  for (const h of ['Type', 'Count', 'Median price', '$/sq ft']) head.append(el('th', h));
  table.append(head);
  for (const g of groups) {
    const key = g.key ?? g.group ?? g.type ?? g.property_type ?? '—';
    const count = pick(g, ['count', 'listings', 'n']);
    const median = pick(g, [
      'median_close_price',
      'close_price.median',
      'close_price.p50',
      'median_price',
      'price.median',
      'median_list_price',
      'list_price.median',
      'list_price.p50',
    ]);
    const ppsf = pick(g, ['median_price_per_sqft', 'price_per_sqft.median', 'price_per_sqft.p50']);
    const tr = el('tr');
    tr.append(
      el('td', key),
      el('td', count !== undefined ? number.format(count) : ''),
      el('td', median !== undefined ? money.format(median) : ''),
      el('td', ppsf !== undefined ? money.format(ppsf) : ''),
    );
    table.append(tr);
    if (typeof key === 'string' && key !== '—') addTypes([key]);
  }
  statsBody.className = '';
  statsBody.replaceChildren(table);
}

let statsTimer;
map.on('moveend', () => {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(refreshStats, 250);
});

// --- legend, and a handle for tests and the curious ------------------------------------------
const legend = document.getElementById('legend');
for (const [status, color] of Object.entries(STATUS_COLORS)) {
  const li = el('li');
  const swatch = el('span', undefined, 'swatch');
  swatch.style.background = color;
  li.append(swatch, document.createTextNode(` ${status}`));
  legend.append(li);
}

window.__map = map;
window.__viewer = { map, tileUrl, applyFilters };
