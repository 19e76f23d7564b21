/**
 * Formatting shared by the experiments' and the simulator's reports: numbers, aligned terminal tables,
 * HTML escaping, inline-SVG line charts and a self-contained HTML page.
 */

/** A number with thousands separators and exactly `digits` decimals; `–` for none or NaN. */
export const fmt = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Renders rows as an aligned table (first column left-aligned). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** Escapes text for HTML element content and double-quoted attributes. */
export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
const COLORS = ['#2b6cb0', '#dd6b20', '#2f855a', '#9b2c2c', '#6b46c1', '#b7791f'];

/** A line chart: one or more series of (x, y) points; x and y labelled. */
export function lineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly { name: string; points: readonly (readonly [number, number])[] }[];
  logX?: boolean;
  width?: number;
  height?: number;
}): string {
  const W = o.width ?? 760;
  const H = o.height ?? 280;
  const left = 70;
  const right = 20;
  const top = 30;
  const bottom = 45;
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) return `<p>${esc(o.title)}: no data</p>`;
  const tx = (x: number) => (o.logX ? Math.log10(Math.max(x, 1e-9)) : x);
  const xs = pts.map(([x]) => tx(x));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  const y1 = Math.max(...pts.map(([, y]) => y), 1e-9) * 1.1;
  const X = (x: number) => left + ((tx(x) - x0) / (x1 - x0)) * (W - left - right);
  const Y = (y: number) => H - bottom - (y / y1) * (H - top - bottom);
  const parts: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (y1 * k) / 4;
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#eee"/><text x="${left - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${esc(fmt(v, v < 10 ? 2 : 0))}</text>`);
  }
  const xticks = o.logX ? [...new Set(pts.map(([x]) => x))] : [0, 0.25, 0.5, 0.75, 1].map((f) => Math.pow(10, 0) * (x0 + f * (x1 - x0)));
  for (const x of xticks.slice(0, 16)) {
    parts.push(`<text x="${X(x).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle" font-size="11">${esc(fmt(x, x < 10 && !Number.isInteger(x) ? 2 : 0))}</text>`);
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="14" y="${(top + H - bottom) / 2}" font-size="12" transform="rotate(-90 14 ${(top + H - bottom) / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`);
    if (p.length <= 24) for (const [x, y] of p) parts.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${c}"><title>${esc(`${s.name}: ${fmt(x, 2)} → ${fmt(y, 2)}`)}</title></circle>`);
    parts.push(`<rect x="${left + 10 + i * 170}" y="8" width="12" height="12" fill="${c}"/><text x="${left + 26 + i * 170}" y="18" font-size="12">${esc(s.name)}</text>`);
  });
  return `<figure><figcaption>${esc(o.title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">${parts.join('')}</svg></figure>`;
}

const PAGE_STYLE =
  'body{font-family:system-ui,sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.3em}';

/** A self-contained page (no scripts, no network). */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${PAGE_STYLE}</style></head><body>\n<h1>${esc(title)}</h1>\n${body}\n</body></html>\n`;
}
