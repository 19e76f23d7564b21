import { randomBytes } from 'node:crypto';
import { awsError } from '../errors/catalogue.js';
import type { Clock } from '../util/clock.js';
import type { WorkerManager } from '../worker-manager/worker-manager.js';
import type { FunctionSpec, Step } from '../worker-manager/types.js';
import type { Fleet } from '../fleet/fleet.js';
import { SandboxInitError, type SandboxSpec } from '../fleet/sandbox-driver.js';
import { endLine, logStreamName, reportLine, startLine, tailBase64 } from './log-format.js';
import type { LogStore } from './log-store.js';

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
  /** Seconds. */
  readonly timeout: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly vpcKey?: string;
  readonly reservedConcurrency?: number;
}

export interface InvokeRequest {
  readonly requestId: string;
  readonly payload: Buffer;
  /** The ARN as invoked (qualified with the alias or version when one was given). */
  readonly invokedFunctionArn: string;
  readonly clientContext?: string;
  readonly traceId?: string;
  readonly signal?: AbortSignal;
}

export interface InvokeResult {
  readonly payload: Buffer;
  /** `Unhandled` when the function (or its runtime) failed. */
  readonly functionError?: 'Unhandled';
  readonly errorType?: string;
  /** The whole log of this invocation (for LogType=Tail, take its last 4 KB). */
  readonly logTail: string;
  readonly coldStart: boolean;
  readonly narrowColdStart: boolean;
}

export interface InvokeServiceOptions {
  readonly workerManager: WorkerManager;
  readonly fleet: Fleet;
  readonly clock: Clock;
  readonly logs: LogStore;
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

  constructor(private readonly o: InvokeServiceOptions) {}

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
    this.apply(steps);
    this.scheduleTick();
  }

  async invoke(v: InvocableVersion, req: InvokeRequest): Promise<InvokeResult> {
    const wm = this.o.workerManager;
    if (!this.versions.has(v.versionKey)) this.versions.set(v.versionKey, { version: v, streams: new Map() });
    const spec: FunctionSpec = {
      versionKey: v.versionKey,
      functionKey: v.functionArn,
      account: v.account,
      memoryMb: v.memorySize,
      ...(v.vpcKey !== undefined ? { vpcKey: v.vpcKey } : {}),
      ...(v.reservedConcurrency !== undefined ? { reservedConcurrency: v.reservedConcurrency } : {}),
    };
    const decision = wm.acquire(spec, this.o.clock.now());
    if (decision.kind === 'throttle') throw awsError('throttled', { reason: decision.reason }, { Reason: decision.reason });

    const sandboxId = decision.sandboxId;
    let initDurationMs: number | undefined;
    let initLines: readonly string[] = [];
    if (decision.kind === 'cold') {
      try {
        for (const step of decision.steps) {
          await this.o.fleet.execute(step, req.signal);
          this.reportDone(step);
        }
      } catch (err) {
        const result = err instanceof SandboxInitError ? this.initFailure(v, req, sandboxId, err) : undefined;
        this.apply(wm.failed(sandboxId, this.o.clock.now()));
        this.scheduleTick();
        if (result) return result;
        throw err;
      }
      const handle = this.o.fleet.sandbox(sandboxId);
      initDurationMs = handle?.initDurationMs;
      initLines = handle?.initLogs ?? [];
    }
    const handle = this.o.fleet.sandbox(sandboxId);
    if (!handle) {
      this.apply(wm.discard(sandboxId, this.o.clock.now()));
      throw awsError('service', { detail: `sandbox ${sandboxId} vanished before the invocation` });
    }
    const deadlineMs = this.o.clock.now() + v.timeout * 1000;
    let outcome;
    try {
      outcome = await handle.invoke(
        {
          requestId: req.requestId,
          payload: req.payload,
          invokedFunctionArn: req.invokedFunctionArn,
          deadlineMs,
          ...(req.traceId !== undefined ? { traceId: req.traceId } : {}),
          ...(req.clientContext !== undefined ? { clientContext: req.clientContext } : {}),
        },
        req.signal,
      );
    } catch (err) {
      this.apply(wm.discard(sandboxId, this.o.clock.now()));
      this.scheduleTick();
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
    this.writeLogs(v, sandboxId, lines);
    const now = this.o.clock.now();
    this.apply(outcome.kind === 'error' && outcome.fatal ? wm.discard(sandboxId, now) : wm.release(sandboxId, now));
    this.scheduleTick();
    return {
      payload: outcome.payload,
      ...(outcome.kind === 'error' ? { functionError: 'Unhandled' as const, errorType: outcome.errorType } : {}),
      logTail: tailBase64(lines),
      coldStart: decision.kind === 'cold',
      narrowColdStart: decision.kind === 'cold' && decision.narrow,
    };
  }

  /** Stops the tick timer. The fleet is closed by its owner. */
  close(): void {
    this.closed = true;
    this.cancelTick?.();
  }

  private initFailure(v: InvocableVersion, req: InvokeRequest, sandboxId: string, err: SandboxInitError): InvokeResult {
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
      narrowColdStart: false,
    };
  }

  private writeLogs(v: InvocableVersion, sandboxId: string, lines: readonly string[]): void {
    const stream = this.versions.get(v.versionKey)?.streams.get(sandboxId) ?? 'unknown';
    this.o.logs.append({ account: v.account, region: v.region, functionName: v.functionName }, stream, lines);
  }

  private reportDone(step: Step): void {
    const now = this.o.clock.now();
    const wm = this.o.workerManager;
    if (step.kind === 'provision-worker') wm.workerReady(step.workerId, now);
    else if (step.kind === 'attach-eni') wm.eniReady(step.eniId, now);
    else if (step.kind === 'create-sandbox') this.apply(wm.ready(step.sandboxId, now));
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

  /** Hands cleanup steps to the fleet and forgets the sandboxes they stop. */
  private apply(steps: readonly Step[]): void {
    this.o.fleet.executeInBackground(steps);
    for (const s of steps) {
      if (s.kind !== 'stop-sandbox') continue;
      const key = this.sandboxVersion.get(s.sandboxId);
      this.sandboxVersion.delete(s.sandboxId);
      if (key) this.versions.get(key)?.streams.delete(s.sandboxId);
    }
  }
}
