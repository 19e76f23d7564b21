/**
 * Admission: the accounts, functions and versions the core knows, and whether an invocation may run.
 * A function with reservedConcurrency r is throttled at r in flight (0 blocks) with
 * `ReservedFunctionConcurrentInvocationLimitExceeded`; the others share the account's unreserved pool
 * (accountConcurrency minus the account's reservations) and are throttled with
 * `ConcurrentInvocationLimitExceeded`. In flight = initializing for an invocation, or busy.
 */
import { Account, Fn, Version } from './model.js';
import type { Decision, FunctionSpec, PlacementCounters, PlacementOptions } from './types.js';

const THROTTLE_ACCOUNT: Decision = Object.freeze({ kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: false });
const THROTTLE_RESERVED: Decision = Object.freeze({
  kind: 'throttle',
  reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
  capacity: false,
});
const THROTTLE_CAPACITY: Decision = Object.freeze({ kind: 'throttle', reason: 'ConcurrentInvocationLimitExceeded', capacity: true });

/** See the module comment. */
export class Admission {
  private readonly accounts = new Map<string, Account>();
  private readonly functions = new Map<string, Fn>();
  /** Versions that have sandboxes, a provisioned target or scheduled pre-warms (others are forgotten). */
  private readonly versions = new Map<string, Version>();
  private inflightTotal = 0;

  constructor(
    private readonly options: PlacementOptions,
    private readonly stats: PlacementCounters,
    /** The keep-alive policy's state for a new function (null when the policy keeps none). */
    private readonly policyState: (functionKey: string) => unknown,
  ) {}

  /** The known version `versionKey`, or undefined. */
  version(versionKey: string): Version | undefined {
    return this.versions.get(versionKey);
  }

  /** Whether `v` is the version known under its key (not forgotten, not replaced). */
  isCurrent(v: Version): boolean {
    return this.versions.get(v.key) === v;
  }

  /** Known versions for which `match` holds (a snapshot: the caller may change the map). */
  versionsMatching(match: (s: { versionKey: string; functionKey: string }) => boolean): Version[] {
    const out: Version[] = [];
    for (const v of this.versions.values()) if (match({ versionKey: v.key, functionKey: v.fn.key })) out.push(v);
    return out;
  }

  /** A new version of `f` from `spec` (validated memory size). */
  newVersion(spec: FunctionSpec, f: Fn): Version {
    const m = spec.memoryMb;
    if (!Number.isInteger(m) || m <= 0 || m > this.options.workerMemoryMb) {
      throw new RangeError(`memoryMb must be an integer in 1..${this.options.workerMemoryMb}, got ${m}`);
    }
    const v = new Version(spec.versionKey, f, m, spec.vpcKey);
    this.versions.set(v.key, v);
    return v;
  }

  /** Forgets `v` when it has no sandboxes, provisioned target or scheduled pre-warms (and is still current). */
  forgetIfUnused(v: Version): void {
    if (v.all.size === 0 && v.provTarget === 0 && v.prewarms === null && this.versions.get(v.key) === v) this.versions.delete(v.key);
  }

  /**
   * The function of `spec` (created on first sight), its reservation updated from the spec. `known` is the
   * spec's version when already known: on the hot path it carries its function, saving a map look-up.
   */
  functionOf(spec: FunctionSpec, known?: Version): Fn {
    let f: Fn | undefined = known?.fn;
    if (f === undefined || f.key !== spec.functionKey || f.account.name !== spec.account) {
      f = this.functions.get(spec.functionKey);
      if (f === undefined) f = this.newFn(spec.functionKey, spec.account);
      else if (f.account.name !== spec.account) {
        throw new Error(`function ${spec.functionKey} belongs to account ${f.account.name}, not ${spec.account}`);
      }
    }
    if (spec.reservedConcurrency !== f.reserved) this.applyReserved(f, spec.reservedConcurrency);
    return f;
  }

  /** null when an invocation of `f` may start now; otherwise the throttle decision (counted). */
  admit(f: Fn): Decision | null {
    const a = f.account;
    if (f.reserved !== undefined) {
      if (f.inflight >= f.reserved) return this.throttle(THROTTLE_RESERVED);
    } else if (a.inflight - a.reservedInflight >= this.options.accountConcurrency - a.reservedSum) {
      return this.throttle(THROTTLE_ACCOUNT);
    }
    return null;
  }

  /** Concurrency allowed the invocation but no host had room (counted). */
  throttleCapacity(): Decision {
    return this.throttle(THROTTLE_CAPACITY);
  }

  /** Records a reservation before the function is invoked; undefined removes it. */
  setReserved(functionKey: string, account: string, reserved: number | undefined): void {
    const f = this.functions.get(functionKey) ?? this.newFn(functionKey, account);
    if (f.account.name !== account) throw new Error(`function ${functionKey} belongs to account ${f.account.name}, not ${account}`);
    this.applyReserved(f, reserved);
  }

  /** An invocation of `f` is now in flight. */
  incInflight(f: Fn): void {
    f.inflight++;
    f.account.inflight++;
    if (f.reserved !== undefined) f.account.reservedInflight++;
    this.inflightTotal++;
  }

  /** An invocation of `f` is no longer in flight. */
  decInflight(f: Fn): void {
    f.inflight--;
    f.account.inflight--;
    if (f.reserved !== undefined) f.account.reservedInflight--;
    this.inflightTotal--;
  }

  /** In flight: of one function, or of all accounts when `functionKey` is omitted. */
  concurrency(functionKey?: string): number {
    if (functionKey === undefined) return this.inflightTotal;
    return this.functions.get(functionKey)?.inflight ?? 0;
  }

  /** In flight of one account. */
  accountInFlight(account: string): number {
    return this.accounts.get(account)?.inflight ?? 0;
  }

  private throttle(d: Decision): Decision {
    this.stats.throttles++;
    return d;
  }

  private newFn(key: string, account: string): Fn {
    let a = this.accounts.get(account);
    if (a === undefined) {
      a = new Account(account);
      this.accounts.set(account, a);
    }
    const f = new Fn(key, a, this.policyState(key));
    this.functions.set(key, f);
    return f;
  }

  private applyReserved(f: Fn, r: number | undefined): void {
    if (r !== undefined && (!Number.isInteger(r) || r < 0)) throw new RangeError(`reservedConcurrency must be a non-negative integer, got ${r}`);
    const a = f.account;
    if (f.reserved !== undefined) {
      a.reservedSum -= f.reserved;
      a.reservedInflight -= f.inflight;
    }
    f.reserved = r;
    if (r !== undefined) {
      a.reservedSum += r;
      a.reservedInflight += f.inflight;
    }
  }
}
