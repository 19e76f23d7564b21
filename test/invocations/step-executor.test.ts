/**
 * The step executor on its own: a recording fake fleet whose steps take virtual time (VirtualClock) and a
 * recording fake core. Checks the order steps begin in, when outcomes are reported, and failure reporting.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StepExecutor, type BackgroundStepEvent, type StepCore, type StepDone, type StepFleet, type StepPurpose } from '../../src/invocations/step-executor.js';
import { VirtualClock } from '../../src/util/clock.js';
import type { Step } from '../../src/worker-manager/types.js';

const DURATION: Record<Step['kind'], number> = { 'provision-worker': 100, 'attach-eni': 30, 'create-sandbox': 7, 'stop-sandbox': 1, 'retire-worker': 1, 'delete-eni': 1 };

function idOf(s: Step): string {
  switch (s.kind) {
    case 'provision-worker':
    case 'retire-worker':
      return s.workerId;
    case 'attach-eni':
    case 'delete-eni':
      return s.eniId;
    default:
      return s.sandboxId;
  }
}

/** Steps take DURATION ms of virtual time; `failing` ids fail. Records every begin, end and cleanup. */
class RecordingFleet implements StepFleet<Promise<void>> {
  readonly log: string[] = [];
  readonly failing = new Set<string>();
  constructor(readonly clock: VirtualClock) {}
  now(): number {
    return this.clock.now();
  }
  begin(step: Step, after: Promise<void> | undefined, purpose: StepPurpose, done: StepDone): Promise<void> {
    const run = async (): Promise<void> => {
      this.log.push(`${this.clock.now()} begin ${step.kind} ${idOf(step)} (${purpose})`);
      await this.clock.sleep(DURATION[step.kind]);
      if (this.failing.has(idOf(step))) {
        const error = new Error(`${idOf(step)} failed`);
        this.log.push(`${this.clock.now()} fail ${step.kind} ${idOf(step)}`);
        done(error);
        throw error;
      }
      this.log.push(`${this.clock.now()} end ${step.kind} ${idOf(step)}`);
      done();
    };
    const p = after === undefined ? run() : after.then(run);
    p.catch(() => undefined);
    return p;
  }
  cleanup(steps: readonly Step[]): void {
    for (const s of steps) this.log.push(`${this.clock.now()} cleanup ${s.kind} ${idOf(s)}`);
  }
}

/** Records what it is told, into the fleet's log so the interleaving shows. */
class RecordingCore implements StepCore {
  readonly known = new Set<string>();
  readyReturns = new Map<string, Step[]>();
  failedReturns = new Map<string, Step[]>();
  constructor(private readonly log: string[]) {}
  workerReady(workerId: string, now: number): void {
    this.log.push(`${now} core workerReady ${workerId}`);
  }
  eniReady(eniId: string, now: number): void {
    this.log.push(`${now} core eniReady ${eniId}`);
  }
  ready(sandboxId: string, now: number): Step[] {
    this.log.push(`${now} core ready ${sandboxId}`);
    return this.readyReturns.get(sandboxId) ?? [];
  }
  failed(sandboxId: string, now: number): Step[] {
    this.log.push(`${now} core failed ${sandboxId}`);
    return this.failedReturns.get(sandboxId) ?? [];
  }
  eniFailed(eniId: string, now: number): Step[] {
    this.log.push(`${now} core eniFailed ${eniId}`);
    return [];
  }
  describeSandbox(sandboxId: string): unknown {
    return this.known.has(sandboxId) ? { sandboxId } : undefined;
  }
}

const pw = (workerId: string): Step => ({ kind: 'provision-worker', workerId, account: '111111111111', memoryMb: 3072, hostId: 'h1' });
const eni = (eniId: string, workerId?: string): Step => ({ kind: 'attach-eni', eniId, vpcKey: 'subnet-1|sg-1', ...(workerId !== undefined ? { workerId } : {}) });
const cs = (sandboxId: string, workerId: string): Step => ({ kind: 'create-sandbox', sandboxId, workerId, versionKey: 'v', memoryMb: 128, provisioned: false });
const stop = (sandboxId: string): Step => ({ kind: 'stop-sandbox', sandboxId, reason: 'evicted' });

function setup(stopped = () => false) {
  const clock = new VirtualClock(1000);
  const fleet = new RecordingFleet(clock);
  const core = new RecordingCore(fleet.log);
  const events: BackgroundStepEvent[] = [];
  const applied: (readonly Step[])[] = [];
  let afterReports = 0;
  const executor = new StepExecutor({
    fleet,
    core,
    stopped,
    afterReport: () => afterReports++,
    onApply: (steps) => applied.push(steps),
    onBackground: (e) => events.push(e),
  });
  /** Lets every pending promise callback run, then advances time step by step until nothing is due. */
  const run = async (until: number): Promise<void> => {
    for (let t = clock.now(); t <= until; t++) {
      clock.advance(t);
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
  };
  return { clock, fleet, core, executor, events, applied, afterReports: () => afterReports, run };
}

describe('StepExecutor', () => {
  test('a cold start runs its steps in order, each after the previous one ended, and reports each before the next begins', async () => {
    const { fleet, executor, run } = setup();
    const done = executor.coldStart('s1', [stop('s0'), pw('w1'), eni('e1', 'w1'), cs('s1', 'w1')]);
    assert.ok(done);
    let resolved = false;
    void done.then(() => (resolved = true));
    await run(1200);
    assert.equal(resolved, true);
    assert.deepEqual(fleet.log, [
      '1000 begin stop-sandbox s0 (invocation)',
      '1001 end stop-sandbox s0',
      '1001 begin provision-worker w1 (invocation)',
      '1101 end provision-worker w1',
      '1101 core workerReady w1',
      '1101 begin attach-eni e1 (invocation)',
      '1131 end attach-eni e1',
      '1131 core eniReady e1',
      '1131 begin create-sandbox s1 (invocation)',
      '1138 end create-sandbox s1',
      '1138 core ready s1',
    ]);
  });

  test('a failed cold-start step: the caller hears first, then the core (failed); later steps never begin; the completion fails', async () => {
    const { fleet, core, executor, applied, afterReports, run } = setup();
    fleet.failing.add('e1');
    core.failedReturns.set('s1', [{ kind: 'stop-sandbox', sandboxId: 's1', reason: 'failed' }, { kind: 'delete-eni', eniId: 'e1' }]);
    const heard: unknown[] = [];
    const done = executor.coldStart('s1', [pw('w1'), eni('e1', 'w1'), cs('s1', 'w1')], (err) => {
      heard.push(err);
      fleet.log.push('caller onError');
    });
    let rejected: unknown;
    done!.catch((e: unknown) => (rejected = e));
    await run(1200);
    assert.equal(heard.length, 1);
    assert.equal(rejected, heard[0]);
    assert.deepEqual(fleet.log, [
      '1000 begin provision-worker w1 (invocation)',
      '1100 end provision-worker w1',
      '1100 core workerReady w1',
      '1100 begin attach-eni e1 (invocation)',
      '1130 fail attach-eni e1',
      'caller onError',
      '1130 core failed s1',
      '1130 cleanup stop-sandbox s1',
      '1130 cleanup delete-eni e1',
    ]);
    assert.equal(applied.length, 1);
    assert.equal(afterReports(), 1);
  });

  test('background steps: a create-sandbox waits for its own worker\'s prerequisites only; lone prerequisites run alone; cleanups go to the fleet', async () => {
    const { fleet, executor, events, applied, afterReports, run } = setup();
    const steps = [pw('w2'), cs('s1', 'w1'), eni('h1'), eni('e2', 'w2'), cs('s2', 'w2'), stop('s0')];
    executor.apply(steps);
    assert.deepEqual(applied, [steps]);
    await run(1200);
    assert.deepEqual(fleet.log, [
      '1000 begin create-sandbox s1 (background)',
      '1000 begin provision-worker w2 (background)',
      '1000 begin attach-eni h1 (background)',
      '1000 cleanup stop-sandbox s0',
      '1007 end create-sandbox s1',
      '1007 core ready s1',
      '1030 end attach-eni h1',
      '1030 core eniReady h1',
      '1100 end provision-worker w2',
      '1100 core workerReady w2',
      '1100 begin attach-eni e2 (background)',
      '1130 end attach-eni e2',
      '1130 core eniReady e2',
      '1130 begin create-sandbox s2 (background)',
      '1137 end create-sandbox s2',
      '1137 core ready s2',
    ]);
    assert.deepEqual(
      events.map((e) => [idOf(e.step), e.error]),
      [
        ['s1', undefined],
        ['h1', undefined],
        ['s2', undefined],
      ],
    );
    assert.equal(afterReports(), 3);
  });

  test('steps the core returns on ready are applied in turn', async () => {
    const { fleet, core, executor, run } = setup();
    core.readyReturns.set('s1', [stop('s9'), cs('s3', 'w1')]);
    void executor.coldStart('s1', [cs('s1', 'w1')]);
    await run(1100);
    assert.deepEqual(fleet.log, [
      '1000 begin create-sandbox s1 (invocation)',
      '1007 end create-sandbox s1',
      '1007 core ready s1',
      '1007 begin create-sandbox s3 (background)',
      '1007 cleanup stop-sandbox s9',
      '1014 end create-sandbox s3',
      '1014 core ready s3',
    ]);
  });

  test('a failed background chain is reported for its goal; a sandbox the core stopped meanwhile is no failure', async () => {
    const { fleet, core, executor, events, run } = setup();
    fleet.failing.add('w2');
    fleet.failing.add('h1');
    fleet.failing.add('s5');
    core.known.add('s2');
    executor.apply([pw('w2'), cs('s2', 'w2'), eni('h1'), cs('s5', 'w1')]);
    await run(1200);
    assert.ok(!fleet.log.some((l) => l.includes('begin create-sandbox s2')));
    assert.ok(fleet.log.includes('1100 core failed s2'));
    assert.ok(fleet.log.includes('1030 core eniFailed h1'));
    assert.ok(!fleet.log.some((l) => l.includes('core failed s5')));
    assert.deepEqual(
      events.map((e) => [idOf(e.step), (e.error as Error | undefined)?.message]),
      [
        ['h1', 'h1 failed'],
        ['s2', 'w2 failed'],
      ],
    );
  });

  test('once stopped, background outcomes are neither reported nor announced', async () => {
    let stopped = false;
    const { fleet, executor, events, run } = setup(() => stopped);
    executor.apply([pw('w1'), cs('s1', 'w1')]);
    stopped = true;
    await run(1200);
    assert.ok(!fleet.log.some((l) => l.includes(' core ')));
    assert.deepEqual(events, []);
  });
});
