/**
 * The discrete-event simulator: the SAME `WorkerManager` as the server, a simulated fleet whose steps
 * complete after a latency profile's draws on a virtual time line, and a workload's arrivals.
 *
 * Per invocation: acquire → warm (handler runs now) | cold (the server's StepExecutor runs the steps
 * on a SimulatedFleet: provision-worker → workerProvisionMs, attach-eni → eniCreateMs, create-sandbox →
 * coldStartTotalMs(memory)) → ready → handler → release. `tick()` runs at `nextDeadline()`.
 * Latency = wait for the steps + handler duration.
 *
 * Hot path: events live in typed arrays (event-queue.ts), per-function counters in typed arrays,
 * latencies in log histograms; an invocation allocates only what the core's decision allocates.
 *
 * Determinism: arrivals and handler durations draw from per-function RNG streams (seed, function index),
 * profile draws from the sampler's streams; the same inputs give the same numbers, and two runs that
 * differ only in policy see the same arrivals and handler durations.
 */
import { createSampler, type LatencyProfile, type ProfileSampler } from '../profiles/latency-profile.js';
import { Rng } from '../profiles/rng.js';
import { counterIds } from '../worker-manager/ids.js';
import type { KeepAlivePolicy } from '../worker-manager/keep-alive.js';
import { createKeepAlivePolicy, type KeepAliveConfigInput } from '../worker-manager/keep-alive-config.js';
import type { FunctionSpec, PlacementOptionsInput } from '../worker-manager/types.js';
import { WorkerManager } from '../worker-manager/worker-manager.js';
import { EventQueue, poppedEvent } from './event-queue.js';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
import { cost, type Architecture, type PriceTable } from './prices.js';
import { compileHandler, type ArrivalSource, type Draw, type SimFunction } from './workload.js';
import { realClock, type Clock } from '../util/clock.js';
import { StepExecutor } from '../invocations/step-executor.js';
import { SimulatedFleet } from './simulated-fleet.js';

const ARRIVAL = 1;
const READY = 2;
const COMPLETE = 3;

/** What a decision was, for callbacks. */
export type InvocationKind = 'warm' | 'cold' | 'narrow' | 'throttle';

export interface SimulationConfig {
  readonly functions: readonly SimFunction[];
  /** Arrivals are generated in [0, durationMs). */
  readonly durationMs: number;
  readonly placement: PlacementOptionsInput;
  /** A policy config (a fresh policy per run) or a factory. Default: fixed 10 min. */
  readonly keepAlive?: KeepAliveConfigInput | (() => KeepAlivePolicy);
  readonly profile: LatencyProfile;
  readonly timeScale?: number;
  readonly seed: number;
  readonly prices: PriceTable;
  /** Samples of workers / ENIs / idle memory over time, for charts (default 240). */
  readonly seriesPoints?: number;
  /** Called every ~65k invocations and at the end with the simulated time reached. */
  readonly onProgress?: (simulatedMs: number, invocations: number) => void;
  /** Called for every invocation (tests, the seed preset); slows the hot path a little. */
  readonly onInvocation?: (fnIndex: number, arrivalMs: number, kind: InvocationKind, latencyMs: number) => void;
  /** Measures the run's own duration (`wallSeconds`; default: the real clock). Simulated time is the engine's. */
  readonly wallClock?: Clock;
}

export interface CountSummary {
  invocations: number;
  warm: number;
  cold: number;
  narrowCold: number;
  throttled: number;
  /** cold / admitted invocations (cold includes narrow). */
  coldRate: number;
  narrowColdRate: number;
}

export interface FunctionResult extends CountSummary {
  name: string;
  memoryMb: number;
  vpc: boolean;
  latencyMs: LatencySummary;
  gbSeconds: number;
  cost: number;
}

export interface SimulationResult {
  invocations: number;
  counts: CountSummary;
  latencyMs: LatencySummary;
  /** Sandboxes pre-warmed by the keep-alive policy. */
  prewarms: number;
  workers: { created: number; peak: number; mean: number };
  enis: { created: number; peak: number; mean: number };
  /** MB·s of memory held by idle sandboxes (and pre-warmed ones while they initialise). */
  idleMemoryMbSeconds: number;
  /** Billed GB-seconds (handler, plus init when the price table says init is billed). */
  gbSeconds: number;
  cost: { requests: number; compute: number; total: number; currency: string; pricesRecorded: string; source: string };
  keepAlive: string;
  simulatedMs: number;
  wallSeconds: number;
  invocationsPerSecond: number;
  series: { t: number[]; workers: number[]; enis: number[]; idleMb: number[] };
  functions: FunctionResult[];
}

/** Runs one simulation. Synchronous: a day of a large trace takes seconds to tens of seconds. */
export function simulate(cfg: SimulationConfig): SimulationResult {
  return new Simulation(cfg).run();
}

class Simulation {
  private readonly wm: WorkerManager;
  private readonly sampler: ProfileSampler;
  private readonly q: EventQueue;
  private readonly n: number;
  private readonly specs: FunctionSpec[];
  private readonly mem: Float64Array;
  private readonly draws: Draw[];
  /** Per-function arrival sources; null for functions in the merged Poisson stream. */
  private readonly sources: (ArrivalSource | null)[];
  // The merged Poisson stream: total rate (per ms), alias table over its functions, next arrival.
  private readonly pooledRate: number;
  private readonly aliasProb: Float64Array;
  private readonly aliasIdx: Int32Array;
  private readonly aliasAlt: Int32Array;
  private readonly pooledRng: Rng;
  private nextPooled = Infinity;
  // Per-minute functions (trace replay): one minute of all their arrivals at a time, as sorted keys
  // (uniform position in the minute in the high bits, function index in the low bits).
  private readonly minuteFns: Int32Array;
  private readonly minuteRng: Rng;
  private readonly idxBits: number;
  private minute = -1;
  private minuteKeys = new Float64Array(1024);
  private minuteLen = 0;
  private minutePos = 0;
  private nextMinuteArrival = Infinity;
  private readonly hists: (LatencyHistogram | undefined)[];
  private readonly fInv: Float64Array;
  private readonly fWarm: Float64Array;
  private readonly fCold: Float64Array;
  private readonly fNarrow: Float64Array;
  private readonly fThrottle: Float64Array;
  private readonly fGbMs: Float64Array;
  private readonly fleet: SimulatedFleet;
  private readonly steps: StepExecutor<number>;
  // In-flight invocations, by slot.
  private slotId: (string | undefined)[] = [];
  private slotHandler = new Float64Array(1024);
  private slotFn = new Int32Array(1024);
  private freeSlots: number[] = [];
  // Integrals and gauges.
  private lastT = 0;
  private idleArea = 0;
  private workers = 0;
  private workersArea = 0;
  private workersPeak = 0;
  private enis = 0;
  private enisArea = 0;
  private enisPeak = 0;
  private invocations = 0;
  private readonly seriesEvery: number;
  private nextSample = 0;
  private readonly series = { t: [] as number[], workers: [] as number[], enis: [] as number[], idleMb: [] as number[] };
  private readonly billInit: boolean;
  private readonly policyName: string;
  private readonly onInvocation: SimulationConfig['onInvocation'];

  constructor(private readonly cfg: SimulationConfig) {
    const ka = cfg.keepAlive;
    const policy = typeof ka === 'function' ? ka() : createKeepAlivePolicy(ka ?? { policy: 'fixed' });
    this.policyName = policy.name;
    const workerMemoryMb = cfg.placement.workerMemoryMb ?? 3072;
    this.wm = new WorkerManager(cfg.placement, counterIds(), policy);
    this.sampler = createSampler(cfg.profile, { seed: cfg.seed, timeScale: cfg.timeScale ?? 1 });
    this.n = cfg.functions.length;
    this.q = new EventQueue(Math.max(1024, this.n * 2));
    this.fleet = new SimulatedFleet(this.q, this.sampler);
    this.steps = new StepExecutor({
      fleet: this.fleet,
      core: this.wm,
      onApply: (steps) => {
        for (const s of steps) {
          if (s.kind !== 'create-sandbox') {
            this.refreshFleet();
            return;
          }
        }
      },
    });
    this.specs = cfg.functions.map((f) => {
      if (f.memoryMb > workerMemoryMb) throw new RangeError(`function ${f.name}: MemorySize ${f.memoryMb} MB exceeds the worker size ${workerMemoryMb} MB`);
      const functionKey = `arn:aws:lambda:us-east-1:${f.account}:function:${f.name}`;
      return { versionKey: `${functionKey}:$LATEST`, functionKey, account: f.account, memoryMb: f.memoryMb, ...(f.vpcKey !== undefined ? { vpcKey: f.vpcKey } : {}) };
    });
    this.mem = Float64Array.from(cfg.functions, (f) => f.memoryMb);
    this.draws = cfg.functions.map((f, i) => compileHandler(f.handler, f.handlerMemoryMb, f.memoryMb, new Rng(cfg.seed, 2_000_003 + 2 * i)));
    this.sources = cfg.functions.map((f, i) =>
      f.poissonRatePerSec !== undefined || f.perMinuteCounts !== undefined ? null : f.arrivals(cfg.durationMs, new Rng(cfg.seed, 1_000_003 + 2 * i)),
    );
    this.minuteFns = Int32Array.from(cfg.functions.flatMap((f, i) => (f.poissonRatePerSec === undefined && f.perMinuteCounts !== undefined ? [i] : [])));
    this.minuteRng = new Rng(cfg.seed, 999_979);
    this.idxBits = Math.max(1, Math.ceil(Math.log2(this.n + 1)));
    if (this.idxBits > 21) throw new RangeError('too many functions for per-minute replay (at most 2 million)');
    const pooled = cfg.functions.flatMap((f, i) => (f.poissonRatePerSec !== undefined && f.poissonRatePerSec > 0 ? [{ i, rate: f.poissonRatePerSec / 1000 }] : []));
    this.pooledRate = pooled.reduce((a, p) => a + p.rate, 0);
    ({ prob: this.aliasProb, idx: this.aliasIdx, alt: this.aliasAlt } = aliasTable(pooled));
    this.pooledRng = new Rng(cfg.seed, 999_983);
    this.hists = new Array<LatencyHistogram | undefined>(this.n);
    this.fInv = new Float64Array(this.n);
    this.fWarm = new Float64Array(this.n);
    this.fCold = new Float64Array(this.n);
    this.fNarrow = new Float64Array(this.n);
    this.fThrottle = new Float64Array(this.n);
    this.fGbMs = new Float64Array(this.n);
    this.seriesEvery = cfg.durationMs / Math.max(1, cfg.seriesPoints ?? 240);
    this.billInit = cfg.prices.billInit;
    this.onInvocation = cfg.onInvocation;
  }

  run(): SimulationResult {
    const wall = this.cfg.wallClock ?? realClock;
    const started = wall.monotonic();
    const cfg = this.cfg;
    const q = this.q;
    const wm = this.wm;
    // Hyperplane mode: functions are created (and their ENIs made) before the traffic starts.
    if ((cfg.placement.vpcMode ?? 'hyperplane') === 'hyperplane') {
      for (const s of this.specs) {
        if (s.vpcKey === undefined) continue;
        for (const step of wm.ensureHyperplaneEni(s.functionKey, s.vpcKey, 0)) if (step.kind === 'attach-eni') wm.eniReady(step.eniId, 0);
      }
      this.refreshFleet();
    }
    for (let i = 0; i < this.n; i++) {
      const t = this.sources[i]?.next() ?? Infinity;
      if (t !== Infinity) q.push(t, ARRIVAL, i);
    }
    this.drawPooled(0);
    this.nextMinuteBatch();
    const ev = poppedEvent();
    const progress = cfg.onProgress;
    const end = cfg.durationMs;
    for (;;) {
      const tq = q.peekTime();
      const tp = this.nextPooled;
      const tm = this.nextMinuteArrival;
      const ta = tp < tm ? tp : tm;
      const tn = ta < tq ? ta : tq;
      const dl = wm.nextDeadline() ?? Infinity;
      if (dl <= tn) {
        if (tn === Infinity && dl > end) break;
        this.advance(dl);
        this.steps.apply(wm.tick(dl));
        continue;
      }
      if (tm < tq && tm <= tp) {
        this.advance(tm);
        const key = this.minuteKeys[this.minutePos++]!;
        const i = key % (1 << this.idxBits);
        this.nextMinuteArrival = this.minutePos < this.minuteLen ? this.minuteTime(this.minuteKeys[this.minutePos]!) : this.nextMinuteBatch();
        this.arrival(i, tm);
        if (progress !== undefined && (this.invocations & 0xffff) === 0) progress(tm, this.invocations);
        continue;
      }
      if (tp < tq) {
        this.advance(tp);
        const u = this.pooledRng.next() * this.aliasIdx.length;
        const k = u | 0;
        const i = u - k < this.aliasProb[k]! ? this.aliasIdx[k]! : this.aliasAlt[k]!;
        this.drawPooled(tp);
        this.arrival(i, tp);
        if (progress !== undefined && (this.invocations & 0xffff) === 0) progress(tp, this.invocations);
        continue;
      }
      if (!q.pop(ev)) break;
      const t = ev.time;
      this.advance(t);
      switch (ev.kind) {
        case ARRIVAL:
          this.arrival(ev.payload, t);
          if (progress !== undefined && (this.invocations & 0xffff) === 0) progress(t, this.invocations);
          break;
        case READY:
          // The executor reported the sandbox ready (an event scheduled just before this one).
          q.push(t + this.slotHandler[ev.payload]!, COMPLETE, ev.payload);
          break;
        case COMPLETE:
          this.complete(ev.payload, t);
          break;
        default:
          this.fleet.handle(ev);
      }
    }
    const simEnd = Math.max(end, this.lastT);
    this.advance(simEnd);
    progress?.(simEnd, this.invocations);
    const wallSeconds = (wall.monotonic() - started) / 1000;
    return this.result(simEnd, wallSeconds);
  }

  private arrival(i: number, t: number): void {
    const wm = this.wm;
    this.invocations++;
    this.fInv[i]!++;
    const d = wm.acquire(this.specs[i]!, t);
    const src = this.sources[i]!;
    if (src !== null) {
      const next = src.next();
      if (next !== Infinity) this.q.push(next, ARRIVAL, i);
    }
    if (d.kind === 'throttle') {
      this.fThrottle[i]!++;
      this.onInvocation?.(i, t, 'throttle', NaN);
      return;
    }
    const mem = this.mem[i]!;
    const h = this.draws[i]!();
    const slot = this.allocSlot();
    this.slotFn[slot] = i;
    this.slotHandler[slot] = h;
    this.slotId[slot] = d.sandboxId;
    let latency: number;
    let billedMs: number;
    if (d.kind === 'warm') {
      this.fWarm[i]!++;
      // A warm start takes an idle sandbox of this function.
      this.fleet.idleMb -= mem;
      this.q.push(t + h, COMPLETE, slot);
      latency = h;
      billedMs = Math.ceil(h);
      this.onInvocation?.(i, t, 'warm', latency);
    } else {
      this.fCold[i]!++;
      if (d.narrow) this.fNarrow[i]!++;
      const cursor = this.steps.coldStart(d.sandboxId, d.steps) ?? t;
      const init = this.fleet.lastInitMs;
      this.q.push(cursor, READY, slot);
      this.refreshFleet();
      latency = cursor - t + h;
      billedMs = Math.ceil(this.billInit ? h + init : h);
      this.onInvocation?.(i, t, d.narrow ? 'narrow' : 'cold', latency);
    }
    let hist = this.hists[i];
    if (hist === undefined) hist = this.hists[i] = new LatencyHistogram();
    hist.add(latency);
    this.fGbMs[i]! += billedMs * mem;
  }

  private complete(slot: number, t: number): void {
    const id = this.slotId[slot]!;
    const mem = this.mem[this.slotFn[slot]!]!;
    this.freeSlots.push(slot);
    const steps = this.wm.release(id, t);
    if (steps.length === 0) {
      this.fleet.idleMb += mem;
      return;
    }
    // Released into idle unless the policy unloaded it (pre-warm later) or it was retired.
    let stopped = false;
    for (const s of steps) if (s.kind === 'stop-sandbox' && s.sandboxId === id) stopped = true;
    if (!stopped) this.fleet.idleMb += mem;
    this.fleet.released = id;
    this.steps.apply(steps);
    this.fleet.released = undefined;
  }

  /** Arrival time of a per-minute key of the current minute (its high bits are the position in the minute). */
  private minuteTime(key: number): number {
    return (this.minute + Math.floor(key / (1 << this.idxBits)) / 0x1_0000_0000) * 60_000;
  }

  /** Generates the next minute with arrivals; returns its first arrival time (Infinity when done). */
  private nextMinuteBatch(): number {
    const fns = this.minuteFns;
    const scale = 1 << this.idxBits;
    const end = this.cfg.durationMs;
    this.minuteLen = 0;
    this.minutePos = 0;
    while (this.minuteLen === 0) {
      this.minute++;
      if (fns.length === 0 || this.minute * 60_000 >= end) {
        this.nextMinuteArrival = Infinity;
        return Infinity;
      }
      let len = 0;
      let any = false;
      for (let k = 0; k < fns.length; k++) {
        const i = fns[k]!;
        const counts = this.cfg.functions[i]!.perMinuteCounts!;
        if (this.minute >= counts.length) continue;
        any = true;
        const c = counts[this.minute]!;
        if (c === 0) continue;
        if (len + c > this.minuteKeys.length) {
          const grown = new Float64Array(Math.max(this.minuteKeys.length * 2, len + c));
          grown.set(this.minuteKeys.subarray(0, len));
          this.minuteKeys = grown;
        }
        for (let j = 0; j < c; j++) this.minuteKeys[len++] = Math.floor(this.minuteRng.next() * 0x1_0000_0000) * scale + i;
      }
      if (!any) {
        this.nextMinuteArrival = Infinity;
        return Infinity;
      }
      this.minuteKeys.subarray(0, len).sort();
      // Arrivals past the end of the run are dropped.
      while (len > 0 && this.minuteTime(this.minuteKeys[len - 1]!) >= end) len--;
      this.minuteLen = len;
    }
    this.nextMinuteArrival = this.minuteTime(this.minuteKeys[0]!);
    return this.nextMinuteArrival;
  }

  private drawPooled(from: number): void {
    if (this.pooledRate <= 0) return;
    const t = from - Math.log(1 - this.pooledRng.next()) / this.pooledRate;
    this.nextPooled = t < this.cfg.durationMs ? t : Infinity;
  }

  private allocSlot(): number {
    const s = this.freeSlots.pop();
    if (s !== undefined) return s;
    const slot = this.slotId.length;
    this.slotId.push(undefined);
    if (slot >= this.slotHandler.length) {
      const h = new Float64Array(this.slotHandler.length * 2);
      h.set(this.slotHandler);
      this.slotHandler = h;
      const f = new Int32Array(this.slotFn.length * 2);
      f.set(this.slotFn);
      this.slotFn = f;
    }
    return slot;
  }

  private advance(t: number): void {
    this.fleet.time = t;
    const dt = t - this.lastT;
    if (dt > 0) {
      while (t >= this.nextSample && this.nextSample <= this.cfg.durationMs) {
        this.series.t.push(this.nextSample);
        this.series.workers.push(this.workers);
        this.series.enis.push(this.enis);
        this.series.idleMb.push(this.fleet.idleMb);
        this.nextSample += this.seriesEvery > 0 ? this.seriesEvery : Infinity;
      }
      this.idleArea += this.fleet.idleMb * dt;
      this.workersArea += this.workers * dt;
      this.enisArea += this.enis * dt;
      this.lastT = t;
    }
  }

  private refreshFleet(): void {
    const c = this.wm.counters();
    this.workers = c.workersCreated - c.workersRetired;
    this.enis = c.enisCreated - c.enisDeleted;
    if (this.workers > this.workersPeak) this.workersPeak = this.workers;
    if (this.enis > this.enisPeak) this.enisPeak = this.enis;
  }

  private result(simEnd: number, wallSeconds: number): SimulationResult {
    const cfg = this.cfg;
    const all = new LatencyHistogram();
    const functions: FunctionResult[] = [];
    let gbSeconds = 0;
    let req = 0;
    let comp = 0;
    const totals = { invocations: 0, warm: 0, cold: 0, narrowCold: 0, throttled: 0 };
    for (let i = 0; i < this.n; i++) {
      const f = cfg.functions[i]!;
      const h = this.hists[i];
      if (h !== undefined) all.merge(h);
      const gbs = this.fGbMs[i]! / 1024 / 1000;
      gbSeconds += gbs;
      const admitted = this.fInv[i]! - this.fThrottle[i]!;
      const c = cost(cfg.prices, f.architecture as Architecture, admitted, gbs);
      req += c.requests;
      comp += c.compute;
      const counts = countSummary(this.fInv[i]!, this.fWarm[i]!, this.fCold[i]!, this.fNarrow[i]!, this.fThrottle[i]!);
      totals.invocations += counts.invocations;
      totals.warm += counts.warm;
      totals.cold += counts.cold;
      totals.narrowCold += counts.narrowCold;
      totals.throttled += counts.throttled;
      functions.push({
        name: f.name,
        memoryMb: f.memoryMb,
        vpc: f.vpcKey !== undefined,
        ...counts,
        latencyMs: (h ?? new LatencyHistogram()).summary(),
        gbSeconds: gbs,
        cost: c.total,
      });
    }
    const c = this.wm.counters();
    const span = simEnd > 0 ? simEnd : 1;
    return {
      invocations: this.invocations,
      counts: countSummary(totals.invocations, totals.warm, totals.cold, totals.narrowCold, totals.throttled),
      latencyMs: all.summary(),
      prewarms: this.fleet.prewarms,
      workers: { created: c.workersCreated, peak: this.workersPeak, mean: this.workersArea / span },
      enis: { created: c.enisCreated, peak: this.enisPeak, mean: this.enisArea / span },
      idleMemoryMbSeconds: this.idleArea / 1000,
      gbSeconds,
      cost: { requests: req, compute: comp, total: req + comp, currency: cfg.prices.currency, pricesRecorded: cfg.prices.recorded, source: cfg.prices.source },
      keepAlive: this.policyName,
      simulatedMs: simEnd,
      wallSeconds,
      invocationsPerSecond: wallSeconds > 0 ? this.invocations / wallSeconds : Infinity,
      series: this.series,
      functions,
    };
  }
}

/** Vose's alias table: O(1) draws of an index with probability proportional to its rate. */
function aliasTable(items: readonly { i: number; rate: number }[]): { prob: Float64Array; idx: Int32Array; alt: Int32Array } {
  const n = items.length;
  const prob = new Float64Array(n);
  const idx = new Int32Array(n);
  const alt = new Int32Array(n);
  const total = items.reduce((a, p) => a + p.rate, 0);
  const scaled = items.map((p) => (p.rate * n) / total);
  const small: number[] = [];
  const large: number[] = [];
  scaled.forEach((x, k) => (x < 1 ? small : large).push(k));
  for (let k = 0; k < n; k++) idx[k] = items[k]!.i;
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large[large.length - 1]!;
    prob[s] = scaled[s]!;
    alt[s] = items[l]!.i;
    scaled[l] = scaled[l]! + scaled[s]! - 1;
    if (scaled[l]! < 1) {
      large.pop();
      small.push(l);
    }
  }
  for (const k of [...small, ...large]) {
    prob[k] = 1;
    alt[k] = items[k]!.i;
  }
  return { prob, idx, alt };
}

function countSummary(invocations: number, warm: number, cold: number, narrowCold: number, throttled: number): CountSummary {
  const admitted = invocations - throttled;
  return {
    invocations,
    warm,
    cold,
    narrowCold,
    throttled,
    coldRate: admitted > 0 ? cold / admitted : 0,
    narrowColdRate: admitted > 0 ? narrowCold / admitted : 0,
  };
}
