/** Output of `lambkin simulate`: terminal tables, `--json`, and a self-contained HTML report (inline SVG). */
import { esc, fmt, htmlPage, lineChart, table } from '../experiments/report-format.js';
import type { SimulationResult } from './engine.js';

/** One simulated variant (e.g. one keep-alive policy) of a workload. */
export interface LabelledResult {
  readonly label: string;
  readonly result: SimulationResult;
}

const pct = (x: number, digits = 2) => `${fmt(x * 100, digits)}%`;
const money = (x: number) => (x < 0.01 ? `$${x.toPrecision(3)}` : `$${fmt(x, 2)}`);

/** Idle memory in GB-hours (MB·s / 1024 / 3600). */
export function idleGbHours(r: SimulationResult): number {
  return r.idleMemoryMbSeconds / 1024 / 3600;
}

/** The summary table (one column per variant) and the busiest functions of the first variant. */
export function renderSimulation(workload: string, results: readonly LabelledResult[], topFunctions = 10): string {
  const out: string[] = [];
  out.push(`lambkin simulate — ${workload}`);
  const rows: string[][] = [['', ...results.map((r) => r.label)]];
  const row = (name: string, f: (r: SimulationResult) => string) => rows.push([name, ...results.map((x) => f(x.result))]);
  row('invocations', (r) => fmt(r.invocations));
  row('warm', (r) => `${fmt(r.counts.warm)} (${pct(r.counts.warm / Math.max(1, r.counts.invocations - r.counts.throttled))})`);
  row('cold', (r) => `${fmt(r.counts.cold)} (${pct(r.counts.coldRate)})`);
  row('narrow cold', (r) => `${fmt(r.counts.narrowCold)} (${pct(r.counts.narrowColdRate, 3)})`);
  row('throttled', (r) => fmt(r.counts.throttled));
  row('pre-warmed sandboxes', (r) => fmt(r.prewarms));
  row('latency p50 / p90 ms', (r) => `${fmt(r.latencyMs.p50, 1)} / ${fmt(r.latencyMs.p90, 1)}`);
  row('latency p99 / max ms', (r) => `${fmt(r.latencyMs.p99, 1)} / ${fmt(r.latencyMs.max, 1)}`);
  row('workers peak / mean', (r) => `${fmt(r.workers.peak)} / ${fmt(r.workers.mean, 1)}`);
  row('ENIs peak / mean', (r) => `${fmt(r.enis.peak)} / ${fmt(r.enis.mean, 1)}`);
  row('idle memory GB·h', (r) => fmt(idleGbHours(r), 1));
  row('billed GB·s', (r) => fmt(r.gbSeconds, 0));
  row('cost (requests + compute)', (r) => money(r.cost.total));
  row('wall s (inv/s)', (r) => `${fmt(r.wallSeconds, 2)} (${fmt(r.invocationsPerSecond)})`);
  out.push(table(rows));
  const first = results[0]?.result;
  if (first) {
    out.push(`keep-alive: ${results.map((r) => `${r.label} = ${r.result.keepAlive}`).join('; ')}`);
    out.push(`prices: ${first.cost.source}, recorded ${first.cost.pricesRecorded} (${first.cost.currency})`);
    const top = [...first.functions].sort((a, b) => b.invocations - a.invocations).slice(0, topFunctions);
    if (top.length > 0) {
      out.push('');
      out.push(`busiest functions (${results[0]!.label}):`);
      out.push(
        table([
          ['function', 'MB', 'invocations', 'cold', 'narrow', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'cost'],
          ...top.map((f) => [
            f.name.length > 32 ? `${f.name.slice(0, 31)}…` : f.name,
            String(f.memoryMb),
            fmt(f.invocations),
            pct(f.coldRate),
            pct(f.narrowColdRate),
            fmt(f.latencyMs.p50, 1),
            fmt(f.latencyMs.p90, 1),
            fmt(f.latencyMs.p99, 1),
            fmt(f.latencyMs.max, 1),
            money(f.cost),
          ]),
        ]),
      );
    }
  }
  return out.join('\n');
}

/** `--json`: every variant in full (functions with at least one invocation). */
export function simulationJson(workload: string, results: readonly LabelledResult[], seed: number): unknown {
  const strip = (r: SimulationResult) => ({ ...r, functions: r.functions.filter((f) => f.invocations > 0) });
  const first = results[0]?.result;
  return {
    workload,
    seed,
    invocations: first?.invocations ?? 0,
    wallSeconds: results.reduce((a, r) => a + r.result.wallSeconds, 0),
    results: results.map((r) => ({ label: r.label, ...strip(r.result) })),
  };
}

function htmlTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  return `<table><thead><tr>${(head ?? []).map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${body.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** The HTML report of `lambkin simulate`. */
export function renderSimulationHtml(workload: string, results: readonly LabelledResult[]): string {
  const rows: string[][] = [['', ...results.map((r) => r.label)]];
  const row = (name: string, f: (r: SimulationResult) => string) => rows.push([name, ...results.map((x) => f(x.result))]);
  row('invocations', (r) => fmt(r.invocations));
  row('cold rate', (r) => pct(r.counts.coldRate));
  row('narrow cold rate', (r) => pct(r.counts.narrowColdRate, 3));
  row('p50 / p90 / p99 / max ms', (r) => `${fmt(r.latencyMs.p50, 1)} / ${fmt(r.latencyMs.p90, 1)} / ${fmt(r.latencyMs.p99, 1)} / ${fmt(r.latencyMs.max, 1)}`);
  row('workers peak / mean', (r) => `${fmt(r.workers.peak)} / ${fmt(r.workers.mean, 1)}`);
  row('ENIs peak / mean', (r) => `${fmt(r.enis.peak)} / ${fmt(r.enis.mean, 1)}`);
  row('idle memory GB·h', (r) => fmt(idleGbHours(r), 1));
  row('cost', (r) => money(r.cost.total));
  row('keep-alive', (r) => r.keepAlive);
  const hours = (t: number) => t / 3_600_000;
  const chart = (title: string, yLabel: string, pick: (r: SimulationResult) => number[]) =>
    lineChart({
      title,
      xLabel: 'simulated hours',
      yLabel,
      series: results.map((x) => ({ name: x.label, points: x.result.series.t.map((t, i) => [hours(t), pick(x.result)[i] ?? NaN] as const) })),
    });
  const first = results[0]?.result;
  const top = first ? [...first.functions].sort((a, b) => b.invocations - a.invocations).slice(0, 20) : [];
  return htmlPage(
    `lambkin simulate — ${workload}`,
    [
      htmlTable(rows),
      chart('Workers over time', 'workers', (r) => r.series.workers),
      chart('ENIs over time', 'ENIs', (r) => r.series.enis),
      chart('Memory held by idle sandboxes', 'idle GB', (r) => r.series.idleMb.map((m) => m / 1024)),
      `<h2>Busiest functions (${esc(results[0]?.label ?? '')})</h2>`,
      htmlTable([
        ['function', 'MB', 'invocations', 'cold', 'narrow', 'p50 ms', 'p99 ms', 'cost'],
        ...top.map((f) => [f.name, String(f.memoryMb), fmt(f.invocations), pct(f.coldRate), pct(f.narrowColdRate, 3), fmt(f.latencyMs.p50, 1), fmt(f.latencyMs.p99, 1), money(f.cost)]),
      ]),
      first ? `<p>Prices: <a href="${esc(first.cost.source)}">${esc(first.cost.source)}</a>, recorded ${esc(first.cost.pricesRecorded)}.</p>` : '',
    ].join('\n'),
  );
}
