import { html, raw } from 'hono/html';
import type { CheckState } from '../scheduled/health/checks';
import type { StatusSummary } from './summary';

/** The page's only style, inline: no external asset, so the page works when nothing else does. */
export const statusStyles = `
:root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.45}
body{margin:0;padding:2rem 1rem}main{max-width:46rem;margin:0 auto}
h1{font-size:1.4rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.banner{padding:.8rem 1rem;border-radius:.4rem;font-weight:600}
.operational{background:#dcfce7;color:#14532d}.degraded{background:#fef9c3;color:#713f12}
.outage{background:#fee2e2;color:#7f1d1d}.unknown{background:#e5e7eb;color:#1f2937}
.meta{color:GrayText;font-size:.9rem}
table{width:100%;border-collapse:collapse;margin-top:1rem}
th,td{text-align:left;padding:.4rem .3rem;border-bottom:1px solid #8884}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600}.s-up{color:#15803d}.s-degraded{color:#a16207}.s-down{color:#b91c1c}.s-unknown{color:GrayText}
ol{padding-left:1.2rem}
`.trim();

let styleHash: Promise<string> | undefined;

/**
 * The CSP source for the inline style: `'sha256-…'` of exactly `statusStyles`, computed once per
 * isolate. A hash rather than `'unsafe-inline'`: the page allows that one stylesheet and nothing
 * else (no script at all), so injected markup could not style or run anything.
 */
export function statusStyleSource(): Promise<string> {
  styleHash ??= crypto.subtle
    .digest('SHA-256', new TextEncoder().encode(statusStyles))
    .then((digest) => `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`);
  return styleHash;
}

export async function statusContentSecurityPolicy(): Promise<string> {
  return `default-src 'none'; style-src ${await statusStyleSource()}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

const headlines: Record<StatusSummary['status'], string> = {
  operational: 'All systems operational',
  degraded: 'Degraded: the service answers, something needs attention',
  outage: 'Outage: the API is not answering',
  unknown: 'Status unknown: no check has been recorded yet',
};
const stateWords: Record<CheckState, string> = {
  up: 'Up',
  degraded: 'Degraded',
  down: 'Down',
  unknown: 'Unknown',
};

const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
const percent = (value: number | null) => (value === null ? '–' : `${value.toFixed(2)}%`);

function frame(body: unknown) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>Status · estate-edge</title>
<style>${raw(statusStyles)}</style>
</head>
<body><main>
<h1>estate-edge status</h1>
${body}
</main></body>
</html>`;
}

/** The page for a summary. Every value goes through `html`, which escapes it. */
export function renderStatusPage(s: StatusSummary) {
  const rows = s.checks.map(
    (c) => html`<tr><td>${c.label}</td><td class="state s-${c.state}">${stateWords[c.state]}</td>
<td class="num">${percent(c.up_24h)}</td><td class="num">${percent(c.up_7d)}</td></tr>`,
  );
  const incidents = s.incidents.length
    ? html`<ol>${s.incidents.map(
        (i) =>
          html`<li><time datetime="${i.at}">${utc(i.at)}</time> · ${i.label}: ${stateWords[i.from]} → <span class="state s-${i.to}">${stateWords[i.to]}</span></li>`,
      )}</ol>`
    : html`<p>No incidents in the last 7 days.</p>`;
  return frame(html`<p class="banner ${s.status}">${headlines[s.status]}</p>
<p class="meta">${s.checked_at ? `Last checked ${utc(s.checked_at)}` : 'Not checked yet'} · API uptime ${percent(s.uptime.last_24h)} over 24 h, ${percent(s.uptime.last_7d)} over 7 days · p95 response ${s.latency_p95_ms_24h === null ? '–' : `${Math.round(s.latency_p95_ms_24h)} ms`}</p>
${s.stale ? html`<p class="banner unknown">The monitor has not reported for a while: these figures may be out of date.</p>` : ''}
<table>
<thead><tr><th>Check</th><th>Now</th><th class="num">Up, 24 h</th><th class="num">Up, 7 days</th></tr></thead>
<tbody>${rows}</tbody>
</table>
<h2>Recent incidents</h2>
${incidents}`);
}

/** Without history: say so plainly rather than show a guess. */
export function renderUnavailablePage(reason: string) {
  return frame(html`<p class="banner unknown">Status history is unavailable</p><p>${reason}</p>`);
}
