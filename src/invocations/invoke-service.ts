import { randomBytes } from 'node:crypto';
import { awsError } from '../errors/catalogue.js';
import type { Clock } from '../util/clock.js';
import type { WorkerManager } from '../worker-manager/worker-manager.js';
import type { FunctionSpec, Step } from '../worker-manager/types.js';
import type { Fleet } from '../fleet/fleet.js';
import { SandboxInitError, type SandboxSpec } from '../fleet/sandbox-driver.js';
import { endLine, logStreamName, reportLine, startLine, tailBase64 } from './log-format.js';
import type { LogStore } from './log-store.js';
import type { Tracer, TracingMode } from '../tracing/tracer.js';
import type { InvocationTrace, TraceStep } from '../tracing/segments.js';
import { FleetSteps } from './fleet-steps.js';
import { StepExecutor, type BackgroundStepEvent } from './step-executor.js';

/** What the invoke path needs of a function version (the registry's record, narrowed). */
export interface InvocableVersion {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  /** Unqualified function ARN. */
  readonly functionArn: string;
  readonly version: string;
  /** Changes whenever code or configuration of this version changes. */
  readonly versionKey: string;
  readonly runtime: string;
  readonly handler: string;
  readonly codeDir: string;
  readonly memorySize: number;
  /** EphemeralStorage (size of /tmp) in MB; default 512. */
  readonly ephemeralStorageMb?: number;
  /** Seconds. */
  readonly timeout: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly vpcKey?: string;
  readonly reservedConcurrency?: number;
  /** TracingConfig.Mode; default PassThrough. */
  readonly tracingMode?: TracingMode;
}

/** One invocation as the frontend (or the event queue) hands it over. */
export interface InvokeRequest {
  readonly requestId: string;
  readonly payload: Buffer;
  /** The ARN as invoked (qualified with the alias or version when one was given). */
  readonly invokedFunctionArn: string;
  readonly clientContext?: string;
  /** The caller's `X-Amzn-Trace-Id`, if any. */
  readonly traceHeader?: string;
  /** When the request arrived (epoch ms): the AWS::Lambda segment starts here. Default: now. */
  readonly receivedAt?: number;
  /** Aborted when the caller goes away: the cold start or the invocation is abandoned. */
  readonly signal?: AbortSignal;
}

/** What an invocation came to (a function error is a result, not an exception). */
export interface InvokeResult {
  readonly payload: Buffer;
  /** `Unhandled` when the function (or its runtime) failed. */
  readonly functionError?: 'Unhandled';
  readonly errorType?: string;
  /** The last 4 KB of this invocation's log, base64: LogType=Tail's `X-Amz-Log-Result`. */
  readonly logTail: string;
  readonly coldStart: boolean;
  readonly narrowColdStart: boolean;
  /** `X-Amzn-Trace-Id` for the response, when a tracer is configured. */
  readonly traceHeader?: string;
}

/** The parts an InvokeService drives. */
export interface InvokeServiceOptions {
  readonly workerManager: WorkerManager;
  readonly fleet: Fleet;
  readonly clock: Clock;
  readonly logs: LogStore;
  /** Records X-Ray segments of every invocation it samples; without one nothing is traced. */
  readonly tracer?: Tracer;
}

interface VersionEntry {
  readonly version: InvocableVersion;
  readonly streams: Map<string, string>;
}

/**
 * One invocation through the architecture: the worker manager decides (warm, cold with steps,
 * throttle), the fleet performs the steps and runs the event, the worker manager is told the
 * outcome. Also owns the tick timer that expires idle sandboxes.
 */
export class InvokeService {
  private readonly versions = new Map<string, VersionEntry>();
  private readonly sandboxVersion = new Map<string, string>();
  private cancelTick: (() => void) | undefined;
  private tickAt = Infinity;
  private closed = false;
  private readonly chains = new Set<Promise<void>>();
  private readonly stepListeners = new Set<(e: BackgroundStepEvent) => void>();
  private readonly executor: StepExecutor<Promise<void>>;

  constructor(private readonly o: InvokeServiceOptions) {
    this.executor = this.executorFor(new FleetSteps(o.fleet, o.clock, { track: (p) => this.track(p) }));
  }

  /** The sandbox spec for a create-sandbox step; the fleet calls this. */
  specFor(step: Extract<Step, { kind: 'create-sandbox' }>): SandboxSpec {
    const entry = this.versions.get(step.versionKey);
    if (!entry) throw new Error(`no function version known for ${step.versionKey}`);
    const v = entry.version;
    const hex = randomBytes(16).toString('hex');
    const stream = logStreamName(new Date(this.o.clock.now()), v.version, hex);
    entry.streams.set(step.sandboxId, stream);
    this.sandboxVersion.set(step.sandboxId, step.versionKey);
    return {
      sandboxId: step.sandboxId,
      account: v.account,
      region: v.region,
      functionName: v.functionName,
      functionVersion: v.version,
      runtime: v.runtime,
      handler: v.handler,
      codeDir: v.codeDir,
      memoryMb: v.memorySize,
      ...(v.vpcKey !== undefined ? { vpcKey: v.vpcKey } : {}),
      ...(v.ephemeralStorageMb !== undefined ? { ephemeralStorageMb: v.ephemeralStorageMb } : {}),
      timeoutMs: v.timeout * 1000,
      environment: v.environment,
      initializationType: step.provisioned ? 'provisioned-concurrency' : 'on-demand',
      logGroupName: `/aws/lambda/${v.functionName}`,
      logStreamName: stream,
    };
  }

  /** Stops the sandboxes of a function (all versions) or of one version, e.g. after an update. */
  retire(functionArn: string, version?: string): void {
    const now = this.o.clock.now();
    const steps = this.o.workerManager.retire((s) => {
      const v = this.versions.get(s.versionKey)?.version;
      return s.functionKey === functionArn && (version === undefined || v?.version === version);
    }, now);
    this.applySteps(steps);
  }

  /**
   * Makes a version known to the invoke path (so create-sandbox steps for it can be specified, e.g.
   * provisioned concurrency before any invocation) and returns its worker-manager spec.
   */
  register(v: InvocableVersion): FunctionSpec {
    if (!this.versions.has(v.versionKey)) this.versions.set(v.versionKey, { version: v, streams: new Map() });
    return {
      versionKey: v.versionKey,
      functionKey: v.functionArn,
      account: v.account,
      memoryMb: v.memorySize,
      ...(v.vpcKey !== undefined ? { vpcKey: v.vpcKey } : {}),
      ...(v.reservedConcurrency !== undefined ? { reservedConcurrency: v.reservedConcurrency } : {}),
    };
  }

  /** Executes steps the worker manager returned outside an invocation (see `apply`). */
  applySteps(steps: readonly Step[]): void {
    this.apply(steps);
    this.scheduleTick();
  }

  /** Runs the worker manager's tick now (e.g. to refill provisioned concurrency once an ENI is ready). */
  tickNow(): void {
    if (this.closed) return;
    this.applySteps(this.o.workerManager.tick(this.o.clock.now()));
  }

  /** Subscribes to the outcomes of background steps. Returns the unsubscribe function. */
  onBackgroundStep(listener: (e: BackgroundStepEvent) => void): () => void {
    this.stepListeners.add(listener);
    return () => {
      this.stepListeners.delete(listener);
    };
  }

  /** Resolves when every background chain has finished (after close, they fail fast). */
  async settled(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains]);
  }

  /**
   * Runs one invocation on a warm sandbox or after a cold start. Throws TooManyRequestsException when
   * throttled; a failed init or a function error is returned as `functionError`.
   */
  async invoke(v: InvocableVersion, req: InvokeRequest): Promise<InvokeResult> {
    const wm = this.o.workerManager;
    const clock = this.o.clock;
    const receivedAt = req.receivedAt ?? clock.now();
    const trace = this.o.tracer?.begin({ ...(req.traceHeader ? { header: req.traceHeader } : {}), mode: v.tracingMode ?? 'PassThrough', now: receivedAt });
    const record = (t: Omit<InvocationTrace, 'traceId' | 'sampled' | 'requestId' | 'account' | 'region' | 'functionName' | 'functionArn' | 'version' | 'receivedAt' | 'respondedAt'>) => {
      if (!trace) return;
      this.o.tracer?.record({
        traceId: trace.traceId,
        ...(trace.parentId ? { parentId: trace.parentId } : {}),
        sampled: trace.sampled,
        segmentIds: trace.segmentIds,
        requestId: req.requestId,
        account: v.account,
        region: v.region,
        functionName: v.functionName,
        functionArn: req.invokedFunctionArn,
        version: v.version,
        receivedAt,
        respondedAt: clock.now(),
        ...t,
      });
    };
    const traced = trace ? { traceHeader: trace.responseHeader } : {};
    const spec = this.register(v);
    const decision = wm.acquire(spec, clock.now());
    if (decision.kind === 'throttle') {
      record({ steps: [], invokeStart: receivedAt, invokeEnd: receivedAt, coldStart: false, narrowColdStart: false, error: { kind: 'throttle' }, statusCode: 429 });
      throw awsError('throttled', { reason: decision.reason }, { Reason: decision.reason });
    }

    const sandboxId = decision.sandboxId;
    const narrow = decision.kind === 'cold' && decision.narrow;
    let initDurationMs: number | undefined;
    let initLines: readonly string[] = [];
    const steps: TraceStep[] = [];
    let initEnd: number | undefined;
    if (decision.kind === 'cold') {
      let failure: InvokeResult | undefined;
      const fleet = new FleetSteps(this.o.fleet, clock, { track: (p) => this.track(p), trace: steps, ...(req.signal ? { signal: req.signal } : {}) });
      try {
        await this.executorFor(fleet).coldStart(sandboxId, decision.steps, (err) => {
          if (err instanceof SandboxInitError) failure = this.initFailure(v, req, sandboxId, err, narrow);
        });
      } catch (err) {
        if (failure) {
          const end = clock.now();
          record({
            steps,
            initStart: end - (err as SandboxInitError).initDurationMs,
            initEnd: end,
            invokeStart: end,
            invokeEnd: end,
            coldStart: true,
            narrowColdStart: narrow,
            error: { kind: 'fault', errorType: failure.errorType ?? 'Runtime.Unknown' },
            statusCode: 200,
          });
          return { ...failure, ...traced };
        }
        throw err;
      }
      initEnd = clock.now();
    }
    const handle = this.o.fleet.sandbox(sandboxId);
    if (!handle) {
      this.applySteps(wm.discard(sandboxId, clock.now()));
      throw awsError('service', { detail: `sandbox ${sandboxId} vanished before the invocation` });
    }
    if (decision.kind === 'cold') {
      initDurationMs = handle.initDurationMs;
      initLines = handle.initLogs;
    }
    const invokeStart = clock.now();
    const deadlineMs = invokeStart + v.timeout * 1000;
    let outcome;
    try {
      outcome = await handle.invoke(
        {
          requestId: req.requestId,
          payload: req.payload,
          invokedFunctionArn: req.invokedFunctionArn,
          deadlineMs,
          // Lambda always hands the runtime a trace header: Root, Parent = the function segment, Sampled.
          ...(trace ? { traceId: trace.runtimeHeader } : req.traceHeader ? { traceId: req.traceHeader } : {}),
          ...(req.clientContext !== undefined ? { clientContext: req.clientContext } : {}),
        },
        req.signal,
      );
    } catch (err) {
      this.applySteps(wm.discard(sandboxId, clock.now()));
      throw err;
    }
    const lines = [
      ...initLines,
      startLine(req.requestId, v.version),
      ...outcome.logs,
      endLine(req.requestId),
      reportLine({
        requestId: req.requestId,
        durationMs: outcome.durationMs,
        memorySizeMb: v.memorySize,
        maxMemoryUsedMb: outcome.maxMemoryUsedMb,
        ...(initDurationMs !== undefined ? { initDurationMs } : {}),
        ...(outcome.kind === 'error' && outcome.errorType === 'Sandbox.Timedout'
          ? { status: 'timeout' as const }
          : outcome.kind === 'error' && outcome.fatal
            ? { status: 'error' as const }
            : {}),
      }),
    ];
    const invokeEnd = invokeStart + outcome.durationMs;
    this.writeLogs(v, sandboxId, lines);
    const now = clock.now();
    this.applySteps(outcome.kind === 'error' && outcome.fatal ? wm.discard(sandboxId, now) : wm.release(sandboxId, now));
    record({
      steps,
      ...(initEnd !== undefined && initDurationMs !== undefined ? { initStart: initEnd - initDurationMs, initEnd } : {}),
      invokeStart,
      invokeEnd,
      overheadEnd: Math.max(invokeEnd, clock.now()),
      coldStart: decision.kind === 'cold',
      narrowColdStart: narrow,
      ...(outcome.kind === 'error' ? { error: { kind: 'fault' as const, errorType: outcome.errorType } } : {}),
      statusCode: 200,
    });
    return {
      payload: outcome.payload,
      ...(outcome.kind === 'error' ? { functionError: 'Unhandled' as const, errorType: outcome.errorType } : {}),
      logTail: tailBase64(lines),
      coldStart: decision.kind === 'cold',
      narrowColdStart: narrow,
      ...traced,
    };
  }

  /** Stops the tick timer. The fleet is closed by its owner. */
  close(): void {
    this.closed = true;
    this.cancelTick?.();
  }

  private initFailure(v: InvocableVersion, req: InvokeRequest, sandboxId: string, err: SandboxInitError, narrow: boolean): InvokeResult {
    const lines = [
      ...err.logs,
      `INIT_REPORT Init Duration: ${err.initDurationMs.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${err.errorType}`,
      startLine(req.requestId, v.version),
      endLine(req.requestId),
      `${reportLine({ requestId: req.requestId, durationMs: err.initDurationMs, memorySizeMb: v.memorySize, maxMemoryUsedMb: 0, status: 'error' })}\tError Type: ${err.errorType}`,
    ];
    this.writeLogs(v, sandboxId, lines);
    return {
      payload: err.payload,
      functionError: 'Unhandled',
      errorType: err.errorType,
      logTail: tailBase64(lines),
      coldStart: true,
      narrowColdStart: narrow,
    };
  }

  private writeLogs(v: InvocableVersion, sandboxId: string, lines: readonly string[]): void {
    const stream = this.versions.get(v.versionKey)?.streams.get(sandboxId) ?? 'unknown';
    this.o.logs.append({ account: v.account, region: v.region, functionName: v.functionName }, stream, lines);
  }

  /** A StepExecutor over `fleet` reporting to the worker manager (closing silences it). */
  private executorFor(fleet: FleetSteps): StepExecutor<Promise<void>> {
    return new StepExecutor({
      fleet,
      core: this.o.workerManager,
      stopped: () => this.closed,
      afterReport: () => this.scheduleTick(),
      onApply: (steps) => this.forget(steps),
      onBackground: (e) => {
        for (const l of [...this.stepListeners]) {
          try {
            l(e);
          } catch {
            // A listener's failure must not break the chain's bookkeeping; listeners report their own errors.
          }
        }
      },
    });
  }

  private track(p: Promise<void>): void {
    this.chains.add(p);
    void p.finally(() => this.chains.delete(p));
  }

  /** Arms one timer for the worker manager's next deadline (expiries, retirements). */
  scheduleTick(): void {
    if (this.closed) return;
    const next = this.o.workerManager.nextDeadline();
    if (next === undefined || next >= this.tickAt) return;
    this.cancelTick?.();
    this.tickAt = next;
    this.cancelTick = this.o.clock.setTimer(next, () => {
      this.tickAt = Infinity;
      this.cancelTick = undefined;
      const steps = this.o.workerManager.tick(this.o.clock.now());
      this.apply(steps);
      this.scheduleTick();
    });
  }

  /**
   * Hands steps nobody waits for to the step executor (which forgets the sandboxes they stop, see `forget`).
   */
  private apply(steps: readonly Step[]): void {
    this.executor.apply(steps);
  }

  private forget(steps: readonly Step[]): void {
    for (const s of steps) {
      if (s.kind !== 'stop-sandbox') continue;
      const key = this.sandboxVersion.get(s.sandboxId);
      this.sandboxVersion.delete(s.sandboxId);
      if (key) this.versions.get(key)?.streams.delete(s.sandboxId);
    }
  }
}
