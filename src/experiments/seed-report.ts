/** The seed experiment's outputs: terminal tables beside the seed's figures, report.json, report.html. */
import { esc, fmt, table } from './report-format.js';
import { SEED_CASES, seedReference } from './seed-cases.js';
import type { CaseResult } from './seed-experiment.js';
import type { Summary } from './statistics.js';

/** Where and how a seed experiment ran (printed above the tables, stored in report.json). */
export interface ReportMeta {
  readonly endpoint: string;
  readonly embedded: boolean;
  readonly timeScale?: number;
  readonly profile?: string;
  readonly vpcMode?: string;
  readonly repeat: number;
  readonly startedAt: string;
  readonly finishedAt: string;
}

/** The seed's tables (NO / ms, then mean, median, max, min, variance), with the seed's column beside ours. */
export function renderTables(results: readonly CaseResult[], meta: ReportMeta): string {
  const out: string[] = [];
  const scale = meta.timeScale !== undefined && meta.timeScale !== 1 ? `, profile ${meta.profile ?? '?'} at time scale ${meta.timeScale}` : '';
  out.push(`lambkin experiment seed — ${meta.embedded ? 'embedded lambkin' : meta.endpoint}${scale}; ${meta.repeat} run(s) of ten per case`);
  for (const r of results) {
    const seed = SEED_CASES.find((c) => c.id === r.id);
    out.push('');
    out.push(`Case ${r.id}: ${r.title}   ENIs created: ${fmt(r.enisCreated, 1)}   workers created: ${fmt(r.workersCreated, 1)}  (per run of ten)`);
    const rows: string[][] = [['NO', 'ms', 'seed ms']];
    if (r.sweep) {
      for (const s of r.sweep) {
        const seedRow = seed?.sweep?.find((x) => x.memoryMb === s.memoryMb);
        rows.push([`${s.memoryMb} MB`, `${fmt(s.stats.mean)} / ${fmt(s.stats.median)}`, seedRow ? `${seedRow.mean} / ${seedRow.median}` : '–']);
      }
    } else {
      const first = r.runs[0]?.durationsMs ?? [];
      first.forEach((d, i) => rows.push([String(i + 1), fmt(d), fmt(seed?.seed?.runs?.[i])]));
    }
    const stats: [string, number, number | undefined][] = [
      ['mean', r.stats.mean, seed?.seed?.mean],
      ['median', r.stats.median, seed?.seed?.median],
      ['max', r.stats.max, seed?.seed?.max],
      ['min', r.stats.min, seed?.seed?.min],
      ['variance', r.stats.variance, seed?.seed?.variance],
    ];
    for (const [k, v, s] of stats) rows.push([k, fmt(v), fmt(s)]);
    out.push(table(rows));
    if (r.sweep) out.push('(sweep rows: mean / median of the starts that reused a worker)');
  }
  return out.join('\n');
}

/** A case's statistics as report.json and `simulate --json` print them (without the count). */
export function statsJson(s: Summary): Omit<Summary, 'count'> {
  return { mean: s.mean, median: s.median, max: s.max, min: s.min, variance: s.variance, p90: s.p90, p99: s.p99 };
}

/** report.json: the cases as the issue names them, plus the run's settings. */
export function reportJson(results: readonly CaseResult[], meta: ReportMeta): unknown {
  return {
    meta,
    cases: results.map((r) => ({
      id: r.id,
      title: r.title,
      memoryMb: r.memoryMb,
      vpc: r.vpc,
      durationsMs: r.durationsMs,
      stats: statsJson(r.stats),
      enisCreated: r.enisCreated,
      workersCreated: r.workersCreated,
      runs: r.runs,
      ...(r.sweep ? { sweep: r.sweep.map((s) => ({ memoryMb: s.memoryMb, durationsMs: s.durationsMs, stats: s.stats })) } : {}),
      seed: seedReference(r.id),
    })),
  };
}

/** A dot plot of every start per case (log scale), lambkin's dots beside the seed's. */
function durationChart(results: readonly CaseResult[]): string {
  const W = 760;
  const rowH = 46;
  const left = 150;
  const H = rowH * results.length + 50;
  const all = results.flatMap((r) => [...r.durationsMs, ...(SEED_CASES.find((c) => c.id === r.id)?.seed?.runs ?? [])]).filter((d) => d > 0);
  const lo = Math.max(1, Math.min(...all, 100));
  const hi = Math.max(...all, 1000);
  const x = (ms: number) => left + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - left - 20);
  const parts: string[] = [];
  for (let decade = Math.ceil(Math.log10(lo)); decade <= Math.log10(hi); decade++) {
    const v = 10 ** decade;
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="20" y2="${H - 25}" stroke="#ddd"/><text x="${x(v)}" y="${H - 8}" text-anchor="middle" font-size="11">${fmt(v)} ms</text>`);
  }
  results.forEach((r, i) => {
    const y = 35 + i * rowH;
    parts.push(`<text x="8" y="${y + 4}" font-size="12">${esc(`Case ${r.id}: ${r.title}`.slice(0, 24))}</text>`);
    for (const d of r.durationsMs) parts.push(`<circle cx="${x(d).toFixed(1)}" cy="${y - 6}" r="4" fill="#2b6cb0" fill-opacity="0.7"><title>lambkin ${fmt(d)} ms</title></circle>`);
    for (const d of SEED_CASES.find((c) => c.id === r.id)?.seed?.runs ?? []) {
      parts.push(`<circle cx="${x(d).toFixed(1)}" cy="${y + 8}" r="4" fill="#dd6b20" fill-opacity="0.7"><title>seed ${fmt(d)} ms</title></circle>`);
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="durations per case">${parts.join('')}</svg>`;
}

/** Case 5's sweep: mean by memory, lambkin and seed. */
function sweepChart(r: CaseResult): string {
  const sweep = r.sweep ?? [];
  const seed = SEED_CASES.find((c) => c.id === r.id)?.sweep ?? [];
  const W = 760;
  const H = 260;
  const ys = [...sweep.map((s) => s.stats.mean), ...seed.map((s) => s.mean)].filter((v) => Number.isFinite(v));
  const top = Math.max(...ys, 1) * 1.15;
  const mems = sweep.map((s) => s.memoryMb);
  const x = (m: number) => 60 + ((m - Math.min(...mems)) / Math.max(1, Math.max(...mems) - Math.min(...mems))) * (W - 100);
  const y = (v: number) => H - 30 - (v / top) * (H - 60);
  const line = (pts: [number, number][], color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.filter(([, v]) => Number.isFinite(v)).map(([m, v]) => `${x(m).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  const axis = mems.map((m) => `<text x="${x(m)}" y="${H - 10}" text-anchor="middle" font-size="11">${m}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="mean cold start by memory">${axis}${line(
    sweep.map((s) => [s.memoryMb, s.stats.mean]),
    '#2b6cb0',
  )}${line(
    seed.map((s) => [s.memoryMb, s.mean]),
    '#dd6b20',
  )}<text x="60" y="16" font-size="12">mean ms by MemorySize (MB): lambkin (blue), seed 2019 (orange)</text></svg>`;
}

/** A self-contained page: no scripts, no network; charts are inline SVG. */
export function renderHtml(results: readonly CaseResult[], meta: ReportMeta): string {
  const rows = results
    .map((r) => {
      const s = SEED_CASES.find((c) => c.id === r.id)?.seed;
      return `<tr><td>${r.id}</td><td>${esc(r.title)}</td><td>${fmt(r.stats.mean)}</td><td>${fmt(s?.mean)}</td><td>${fmt(r.stats.median)}</td><td>${fmt(s?.median)}</td><td>${fmt(r.stats.max)}</td><td>${fmt(r.stats.min)}</td><td>${fmt(r.stats.variance)}</td><td>${fmt(s?.variance)}</td><td>${fmt(r.enisCreated, 1)}</td><td>${fmt(r.workersCreated, 1)}</td></tr>`;
    })
    .join('\n');
  const sweep = results.find((r) => r.sweep);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lambkin — the seed's cold-start study</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:900px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2){text-align:left}</style>
</head><body>
<h1>Cold starts: the seed's six cases</h1>
<p>${esc(meta.embedded ? 'Embedded lambkin' : `Endpoint ${meta.endpoint}`)}${meta.timeScale !== undefined ? `, latency profile ${esc(meta.profile ?? '')} at time scale ${meta.timeScale}` : ''}, VPC mode ${esc(meta.vpcMode ?? 'as the endpoint has it')}; ${meta.repeat} run(s) of ten functions per case; ${esc(meta.startedAt)} – ${esc(meta.finishedAt)}.</p>
<table><thead><tr><th>case</th><th>what</th><th>mean</th><th>seed mean</th><th>median</th><th>seed median</th><th>max</th><th>min</th><th>variance</th><th>seed variance</th><th>ENIs</th><th>workers</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Every start (ms, log scale): lambkin above, seed below</h2>
${durationChart(results)}
${sweep ? `<h2>Case 5: memory sweep</h2>\n${sweepChart(sweep)}` : ''}
</body></html>
`;
}
