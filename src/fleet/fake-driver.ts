import {
  SandboxInitError,
  errorDocument,
  type InvocationOutcome,
  type SandboxDriver,
  type SandboxHandle,
  type SandboxInvocation,
  type SandboxSpec,
  type SandboxState,
} from './sandbox-driver.js';
import { realClock, type Clock } from '../util/clock.js';

/** A handler the fake runs in memory, keyed by the function's Handler string. */
export interface FakeHandler {
  /** Runs once per sandbox; throwing fails init with the error's name as errorType. */
  init?: (spec: SandboxSpec) => Promise<void> | void;
  handle: (
    event: unknown,
    /** `state` is per sandbox, like module state in a real runtime. */
    context: { requestId: string; state: Record<string, unknown>; log: (line: string) => void },
  ) => Promise<unknown> | unknown;
}

/**
 * The in-memory SandboxDriver: same contract as the process driver (the conformance suite runs
 * against both), no processes. For tests of the layers above the fleet.
 */
export class FakeDriver implements SandboxDriver {
  readonly created: SandboxSpec[] = [];
  private readonly live = new Set<FakeSandbox>();

  private readonly clock: Clock;

  /** `options.clock` times init and invocations and enforces deadlines (default: the real clock). */
  constructor(
    private readonly handlers: Readonly<Record<string, FakeHandler>>,
    options: { readonly clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? realClock;
  }

  async create(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle> {
    signal?.throwIfAborted();
    const handler = this.handlers[spec.handler];
    const clock = this.clock;
    const started = clock.monotonic();
    if (!handler) {
      const msg = `${spec.handler} is undefined or not exported`;
      throw new SandboxInitError('Runtime.HandlerNotFound', errorDocument('Runtime.HandlerNotFound', msg), 0, []);
    }
    try {
      await handler.init?.(spec);
    } catch (err) {
      const e = err as Error;
      throw new SandboxInitError(e.name, errorDocument(e.name, e.message), clock.monotonic() - started, []);
    }
    this.created.push(spec);
    const s = new FakeSandbox(spec, handler, clock, clock.monotonic() - started, () => this.live.delete(s));
    this.live.add(s);
    return s;
  }

  async close(): Promise<void> {
    await Promise.all([...this.live].map((s) => s.stop()));
  }
}

class FakeSandbox implements SandboxHandle {
  state: SandboxState = 'idle';
  readonly initLogs: string[] = [];
  private readonly moduleState: Record<string, unknown> = {};

  constructor(
    private readonly spec: SandboxSpec,
    private readonly handler: FakeHandler,
    private readonly clock: Clock,
    readonly initDurationMs: number,
    private readonly onStop: () => void,
  ) {}

  get id(): string {
    return this.spec.sandboxId;
  }

  async invoke(inv: SandboxInvocation, signal?: AbortSignal): Promise<InvocationOutcome> {
    if (this.state !== 'idle') throw new Error(`sandbox ${this.id} is ${this.state}, not idle`);
    this.state = 'busy';
    const logs: string[] = [];
    const clock = this.clock;
    const started = clock.monotonic();
    const common = () => ({ durationMs: clock.monotonic() - started, maxMemoryUsedMb: 1, logs });
    // Ends the deadline timer and the abort listener, whichever way the invocation ends.
    const done = new AbortController();
    const timer = clock.sleep(Math.max(0, inv.deadlineMs - clock.now()), done.signal).then(
      () => 'timeout' as const,
      () => 'cancelled' as const,
    );
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal?.aborted) resolve('aborted');
      signal?.addEventListener('abort', () => resolve('aborted'), { once: true, signal: done.signal });
    });
    try {
      // A payload that is not JSON is the handler's error, as in the Node.js runtime (which parses it there).
      const run = Promise.resolve()
        .then(() => (inv.payload.length ? (JSON.parse(inv.payload.toString('utf8')) as unknown) : {}))
        .then((event) => this.handler.handle(event, { requestId: inv.requestId, state: this.moduleState, log: (l) => logs.push(l) }))
        .then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
      const r = await Promise.race([run, timer, aborted]);
      if (r === 'aborted') {
        this.state = 'failed';
        throw signal?.reason ?? new Error('aborted');
      }
      if (r === 'timeout' || r === 'cancelled') {
        this.state = 'failed';
        const secs = (this.spec.timeoutMs / 1000).toFixed(2);
        const msg = `RequestId: ${inv.requestId} Error: Task timed out after ${secs} seconds`;
        return { kind: 'error', errorType: 'Sandbox.Timedout', payload: errorDocument('Sandbox.Timedout', msg), fatal: true, ...common() };
      }
      this.state = 'idle';
      if (r.ok) return { kind: 'success', payload: Buffer.from(JSON.stringify(r.value ?? null)), ...common() };
      const e = r.error instanceof Error ? r.error : new Error(String(r.error));
      return { kind: 'error', errorType: e.name, payload: errorDocument(e.name, e.message), fatal: false, ...common() };
    } finally {
      done.abort();
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.onStop();
  }
}
