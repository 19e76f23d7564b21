/**
 * The seam between the fleet and whatever really runs a sandbox. The process driver runs real
 * runtime processes; the fake driver runs handlers in memory for tests of everything above it.
 * Both pass the same conformance suite (test/fleet/sandbox-driver-conformance.ts).
 */

/** Everything needed to start one sandbox of one function version. */
export interface SandboxSpec {
  readonly sandboxId: string;
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  /** `$LATEST` or a published version number. */
  readonly functionVersion: string;
  readonly runtime: string;
  readonly handler: string;
  /** The extracted code, read-only by convention. */
  readonly codeDir: string;
  readonly memoryMb: number;
  /** Size of the private /tmp (EphemeralStorage, 512–10240 MB on Lambda); default 512. Enforced with namespaces. */
  readonly ephemeralStorageMb?: number;
  /** The worker (cgroup parent) the sandbox is placed in; filled by the fleet from the create-sandbox step. */
  readonly workerId?: string;
  /** A VPC function's VpcConfig as the placement core keys it (subnets `|` security groups). */
  readonly vpcKey?: string;
  /** The ENI the sandbox reaches its VPC through; filled by the fleet from the attached ENIs. */
  readonly eniId?: string;
  readonly timeoutMs: number;
  readonly environment: Readonly<Record<string, string>>;
  readonly initializationType: 'on-demand' | 'provisioned-concurrency';
  readonly logGroupName: string;
  readonly logStreamName: string;
}

/** One event delivered to a sandbox. */
export interface SandboxInvocation {
  readonly requestId: string;
  readonly payload: Buffer;
  readonly invokedFunctionArn: string;
  /** Epoch milliseconds by which the handler must finish. */
  readonly deadlineMs: number;
  readonly traceId?: string;
  readonly clientContext?: string;
  readonly cognitoIdentity?: string;
}

interface OutcomeCommon {
  /** Handler time, from delivering the event to the runtime's answer. */
  readonly durationMs: number;
  /** Peak resident memory of the sandbox so far, in MB. */
  readonly maxMemoryUsedMb: number;
  /** Log lines the sandbox printed during this invocation, in order. */
  readonly logs: readonly string[];
}

/** How one invocation ended: the handler's result, or an error document (fatal when the sandbox is lost). */
export type InvocationOutcome =
  | (OutcomeCommon & { readonly kind: 'success'; readonly payload: Buffer })
  | (OutcomeCommon & {
      readonly kind: 'error';
      /** JSON error document returned to the caller as the payload. */
      readonly payload: Buffer;
      readonly errorType: string;
      /** The sandbox is unusable (timed out, exited, out of memory) and must be discarded. */
      readonly fatal: boolean;
    });

/** A sandbox's lifecycle as the fleet tracks it. */
export type SandboxState = 'starting' | 'idle' | 'busy' | 'stopping' | 'stopped' | 'failed';

/** A running sandbox: init has completed. */
export interface SandboxHandle {
  readonly id: string;
  /** Time from starting the runtime until it asked for its first event. */
  readonly initDurationMs: number;
  /** Lines printed during init. */
  readonly initLogs: readonly string[];
  readonly state: SandboxState;
  invoke(invocation: SandboxInvocation, signal?: AbortSignal): Promise<InvocationOutcome>;
  /** Kills the sandbox and frees everything it held; idempotent. */
  stop(): Promise<void>;
}

/** Init failed: the caller answers the invocation with this error. */
export class SandboxInitError extends Error {
  constructor(
    readonly errorType: string,
    /** The JSON error document for the caller. */
    readonly payload: Buffer,
    readonly initDurationMs: number,
    readonly logs: readonly string[],
  ) {
    super(`${errorType}: ${payload.toString('utf8').slice(0, 200)}`);
    this.name = 'SandboxInitError';
  }
}

/** Creates and tears down sandboxes (and, when it isolates them, their workers' cgroups). */
export interface SandboxDriver {
  /** Starts a sandbox and resolves once its init finished; rejects with SandboxInitError when init fails. */
  create(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle>;
  /** Stops every sandbox this driver started. */
  close(): Promise<void>;
  /** A worker was provisioned: drivers that isolate make it a cgroup parent with this memory capacity. */
  provisionWorker?(workerId: string, capacityMb: number): Promise<void>;
  /** A worker was retired: its cgroup goes away. */
  retireWorker?(workerId: string): Promise<void>;
  /** An ENI was attached (legacy: to a worker; Hyperplane: shared): drivers that can make it a real interface do. */
  attachEni?(eniId: string, vpcId: string): Promise<void>;
  /** An ENI was deleted. */
  deleteEni?(eniId: string): Promise<void>;
}

/** Lambda's error document for a platform-side failure, as `{errorType, errorMessage}` JSON. */
export function errorDocument(errorType: string, errorMessage: string): Buffer {
  return Buffer.from(JSON.stringify({ errorType, errorMessage }));
}
