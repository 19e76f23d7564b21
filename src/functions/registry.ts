/**
 * The function registry: functions, their `$LATEST` and published versions, and aliases, per
 * (account, region), in SQLite, with code in the content-addressed {@link CodeStore}.
 *
 * A facade over the rooms that do the work:
 *   function-schema.ts   tables and migrations          versions.ts      functions and versions
 *   function-state.ts    State / LastUpdateStatus       aliases.ts       aliases, resolving references
 *   alias-routing.ts     weighted alias routing         code-gc.ts       code store garbage collection
 *   change-events.ts     the change-event bus           function-config.ts, function-rows.ts, list-pages.ts
 *
 * Every write is one SQLite transaction, so a failure never half-writes. The request's shape, types
 * and ranges are validated once, at the frontend (`frontend/lambda-requests.ts`); the registry checks
 * what needs its state or lambkin's semantics (runtime, VpcConfig ids, environment keys, revisions,
 * references). AWS's JSON shapes are rendered at the frontend (`frontend/lambda-shapes.ts`).
 */
import { randomUUID } from 'node:crypto';
import { applyMigrations, statementCache, type Database } from '../store/database.js';
import { realClock, type Clock } from '../util/clock.js';
import { Aliases, type Alias, type AliasInput, type AliasPatch, type Resolved } from './aliases.js';
import { ChangeBus, type ChangeEvent } from './change-events.js';
import { CodeGc } from './code-gc.js';
import type { CodeStore } from './code-store.js';
import { FunctionRows } from './function-rows.js';
import { functionsMigrations } from './function-schema.js';
import type { FunctionState, UpdateStatus } from './function-state.js';
import type { ConfigPatch, CreateFunctionInput, FunctionVersion, PublishInput, UpdateCodeInput } from './function-version.js';
import type { Caller, FunctionRef } from './names.js';
import { Versions, type InitialStateRule } from './versions.js';

/** What a {@link FunctionRegistry} is built from; the sources of time and randomness are injectable for tests. */
export interface RegistryOptions {
  readonly db: Database;
  readonly code: CodeStore;
  /** Time for LastModified (default: the real clock). */
  readonly clock?: Clock;
  /** [0, 1) source for alias traffic shifting (default Math.random). */
  readonly random?: () => number;
  /** RevisionId source (default crypto.randomUUID). */
  readonly uuid?: () => string;
  /**
   * The State a new or reconfigured `$LATEST` starts in (default Active, LastUpdateStatus
   * Successful). The VPC layer in hyperplane mode answers Pending for new functions with a
   * VpcConfig, and Active + LastUpdateStatus InProgress when an Active function's VpcConfig changes
   * (`from` is the State before that update), then calls setState / setLastUpdateStatus later.
   */
  readonly initialState?: InitialStateRule;
  /** Receives exceptions thrown by onChange listeners, and failures of background code removal (default: console.error). */
  readonly onListenerError?: (e: unknown) => void;
}

/** The function registry (see the file comment). */
export class FunctionRegistry {
  private readonly versions: Versions;
  private readonly aliases: Aliases;
  private readonly gc: CodeGc;
  private readonly bus: ChangeBus;

  constructor(options: RegistryOptions) {
    const { db, code } = options;
    const uuid = options.uuid ?? randomUUID;
    const onError = options.onListenerError ?? ((e) => console.error('lambkin: a function registry listener failed:', e));
    applyMigrations(db, functionsMigrations);
    // Prepared statements by SQL text, shared by the rooms (Invoke resolves on every call).
    const sql = statementCache(db);
    const rows = new FunctionRows(sql, code);
    this.bus = new ChangeBus(onError);
    this.gc = new CodeGc({ db, sql, code, onError });
    this.versions = new Versions({
      db,
      sql,
      rows,
      gc: this.gc,
      bus: this.bus,
      clock: options.clock ?? realClock,
      uuid,
      initialState: options.initialState ?? (() => ({ state: 'Active' })),
    });
    this.aliases = new Aliases({ db, sql, rows, uuid, random: options.random ?? Math.random });
  }

  // ---------------------------------------------------------------- functions and versions

  /** CreateFunction. Code is stored first, then one transaction writes `$LATEST` (and version 1 if `publish`). */
  create(caller: Caller, input: CreateFunctionInput): Promise<FunctionVersion> {
    return this.versions.create(caller, input);
  }

  /** GetFunction / GetFunctionConfiguration: the version a reference names (an alias resolves to its primary version). */
  get(caller: Caller, ref: FunctionRef): FunctionVersion {
    return this.aliases.versionFor(caller, ref);
  }

  /** For Invoke: the version to run, honouring an alias's weighted routing (see {@link Aliases.resolve}). */
  resolve(caller: Caller, ref: FunctionRef): Resolved {
    return this.aliases.resolve(caller, ref);
  }

  /** ListFunctions: `$LATEST` of each function (or every version with `allVersions`), by name. */
  list(caller: Caller, opts: { marker?: string; maxItems?: number; allVersions?: boolean } = {}): { functions: FunctionVersion[]; nextMarker?: string } {
    return this.versions.list(caller, opts);
  }

  /** UpdateFunctionCode. */
  updateCode(caller: Caller, name: string, input: UpdateCodeInput): Promise<FunctionVersion> {
    return this.versions.updateCode(caller, name, input);
  }

  /** UpdateFunctionConfiguration. */
  updateConfiguration(caller: Caller, name: string, patch: ConfigPatch, revisionId?: string): FunctionVersion {
    return this.versions.updateConfiguration(caller, name, patch, revisionId);
  }

  /**
   * DeleteFunction: the whole function (versions, aliases) without a qualifier, or one
   * published version. Code no longer referenced is removed in the background
   * (await {@link collectGarbage} or {@link close} to wait for it).
   */
  delete(caller: Caller, ref: FunctionRef): void {
    this.versions.delete(caller, ref);
  }

  /** PublishVersion (the existing version while `$LATEST` is unchanged since it was published, as AWS does). */
  publishVersion(caller: Caller, name: string, input: PublishInput = {}): FunctionVersion {
    return this.versions.publishVersion(caller, name, input);
  }

  /** ListVersionsByFunction: `$LATEST` first, then published versions in order. */
  listVersions(caller: Caller, name: string, marker?: string, maxItems?: number): { versions: FunctionVersion[]; nextMarker?: string } {
    return this.versions.listVersions(caller, name, marker, maxItems);
  }

  /** Every `$LATEST` and published version of every account and region (start-up). */
  listAll(): FunctionVersion[] {
    return this.versions.listAll();
  }

  // ---------------------------------------------------------------- state

  /** Sets the State of a version (the VPC layer: Pending -> Active / Failed). */
  setState(caller: Caller, name: string, version: string, state: FunctionState, reason?: string, reasonCode?: string): FunctionVersion {
    return this.versions.setState(caller, name, version, { state, ...(reason !== undefined ? { reason } : {}), ...(reasonCode !== undefined ? { reasonCode } : {}) });
  }

  /**
   * Sets LastUpdateStatus of a version (the VPC layer: InProgress -> Successful / Failed). Successful
   * drops the previous configuration, so invocations run the current one from now on; Failed keeps it
   * running, as Lambda does.
   */
  setLastUpdateStatus(caller: Caller, name: string, version: string, status: UpdateStatus, reason?: string, reasonCode?: string): FunctionVersion {
    return this.versions.setLastUpdateStatus(caller, name, version, {
      status,
      ...(reason !== undefined ? { reason } : {}),
      ...(reasonCode !== undefined ? { reasonCode } : {}),
    });
  }

  /**
   * The configuration invocations of a version still run while its last update is not complete
   * (LastUpdateStatus InProgress, or Failed), with the version's current State; undefined when
   * they run the version as it is.
   */
  previousConfiguration(v: FunctionVersion): FunctionVersion | undefined {
    return this.versions.previousConfiguration(v);
  }

  /** Subscribes to changes (after they are committed). Returns the unsubscribe function. */
  onChange(listener: (e: ChangeEvent) => void): () => void {
    return this.bus.subscribe(listener);
  }

  // ---------------------------------------------------------------- aliases

  /** CreateAlias. */
  createAlias(caller: Caller, functionName: string, input: AliasInput): Alias {
    return this.aliases.create(caller, functionName, input);
  }

  /** GetAlias. */
  getAlias(caller: Caller, functionName: string, name: string): Alias {
    return this.aliases.get(caller, functionName, name);
  }

  /** ListAliases (optionally only those whose primary or additional version is `functionVersion`). */
  listAliases(caller: Caller, functionName: string, opts: { functionVersion?: string; marker?: string; maxItems?: number } = {}): { aliases: Alias[]; nextMarker?: string } {
    return this.aliases.list(caller, functionName, opts);
  }

  /** UpdateAlias. */
  updateAlias(caller: Caller, functionName: string, name: string, patch: AliasPatch): Alias {
    return this.aliases.update(caller, functionName, name, patch);
  }

  /** DeleteAlias. */
  deleteAlias(caller: Caller, functionName: string, name: string): void {
    this.aliases.delete(caller, functionName, name);
  }

  // ---------------------------------------------------------------- code

  /** The code shas any version references. */
  referencedCode(): Set<string> {
    return this.gc.referencedCode();
  }

  /** Removes code no version references (and leftovers of interrupted uploads). Returns the removed shas. */
  collectGarbage(): Promise<string[]> {
    return this.gc.collect();
  }

  /** Waits for background code removal. The database stays open (its owner closes it). */
  async close(): Promise<void> {
    await this.gc.settle();
    this.bus.clear();
  }
}
