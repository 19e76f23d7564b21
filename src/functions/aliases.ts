/**
 * The aliases room: CreateAlias, GetAlias, ListAliases, UpdateAlias, DeleteAlias, and resolving a
 * reference that names an alias (GetFunction runs its primary version, Invoke honours its weighted
 * routing, see alias-routing.ts).
 */
import { awsError } from '../errors/catalogue.js';
import type { Database, StatementCache } from '../store/database.js';
import { checkRouting, routedVersion } from './alias-routing.js';
import type { FunctionRows } from './function-rows.js';
import type { AliasRow } from './function-schema.js';
import { runnableRow } from './function-state.js';
import { LATEST, type FunctionVersion } from './function-version.js';
import { DEFAULT_LIST_ITEMS, decodeAliasMarker, encodeAliasMarker } from './list-pages.js';
import { aliasArn, checkAliasName, checkVersion, functionArn, qualifierKind, type Caller, type FunctionRef } from './names.js';

/** An alias with its routing. */
export interface Alias {
  readonly account: string;
  readonly region: string;
  readonly functionName: string;
  readonly aliasArn: string;
  readonly name: string;
  readonly functionVersion: string;
  readonly description: string;
  /** Version -> weight (0..1) of traffic shifted away from `functionVersion`. */
  readonly additionalVersionWeights: Readonly<Record<string, number>>;
  readonly revisionId: string;
}

/** What CreateAlias gives. */
export interface AliasInput {
  readonly name: string;
  readonly functionVersion: string;
  readonly description?: string;
  readonly additionalVersionWeights?: Readonly<Record<string, number>>;
}

/** What UpdateAlias may change. */
export interface AliasPatch {
  readonly functionVersion?: string;
  readonly description?: string;
  /** `{}` removes the routing. */
  readonly additionalVersionWeights?: Readonly<Record<string, number>>;
  readonly revisionId?: string;
}

/** What Invoke's resolution of a reference answers. */
export interface Resolved {
  readonly version: FunctionVersion;
  /** The version that runs (AWS's `X-Amz-Executed-Version`). */
  readonly executedVersion: string;
  /** The alias the reference named, if any. */
  readonly alias?: string;
}

/** What the aliases room works with. */
export interface AliasesOptions {
  readonly db: Database;
  readonly sql: StatementCache;
  readonly rows: FunctionRows;
  /** RevisionId source. */
  readonly uuid: () => string;
  /** [0, 1) source for weighted routing. */
  readonly random: () => number;
}

/** Aliases and the resolution of references through them (see the file comment). */
export class Aliases {
  constructor(private readonly o: AliasesOptions) {}

  /** GetFunction / GetFunctionConfiguration: the version a reference names (an alias resolves to its primary version). */
  versionFor(caller: Caller, ref: FunctionRef): FunctionVersion {
    const q = ref.qualifier ?? LATEST;
    const { rows } = this.o;
    if (qualifierKind(q) !== 'alias') return rows.toVersion(rows.requireVersionRow(caller, ref.name, q, ref.qualifier !== undefined));
    const alias = this.requireForFunction(caller, ref.name, q, 'function');
    return rows.toVersion(rows.requireVersionRow(caller, ref.name, alias.function_version, true));
  }

  /**
   * For Invoke: the version to run, honouring an alias's weighted routing. While an update of
   * `$LATEST` is not complete (LastUpdateStatus InProgress, or Failed), this is the previous
   * configuration (its versionKey, VpcConfig, ...) with the current State, as on Lambda.
   */
  resolve(caller: Caller, ref: FunctionRef): Resolved {
    const q = ref.qualifier ?? LATEST;
    if (qualifierKind(q) !== 'alias') {
      const version = this.runnable(caller, ref.name, q, ref.qualifier !== undefined);
      return { version, executedVersion: version.version };
    }
    const alias = this.requireForFunction(caller, ref.name, q, 'function');
    const routes = this.routesOf(caller, ref.name, q);
    // Only a routed alias draws from the random source.
    const chosen = Object.keys(routes).length === 0 ? alias.function_version : routedVersion(alias.function_version, routes, this.o.random());
    const version = this.runnable(caller, ref.name, chosen, true);
    return { version, executedVersion: version.version, alias: q };
  }

  /** CreateAlias. */
  create(caller: Caller, functionName: string, input: AliasInput): Alias {
    checkAliasName(input.name);
    const weights = input.additionalVersionWeights ?? {};
    return this.o.db.transaction(() => {
      if (!this.o.rows.functionRow(caller, functionName)) {
        throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, functionName) });
      }
      if (this.aliasRow(caller, functionName, input.name)) {
        throw awsError('aliasExists', { arn: aliasArn(caller.region, caller.account, functionName, input.name) });
      }
      this.checkTargets(caller, functionName, input.functionVersion, weights);
      const row: AliasRow = {
        account: caller.account,
        region: caller.region,
        name: functionName,
        alias: input.name,
        function_version: input.functionVersion,
        description: input.description ?? '',
        revision_id: this.o.uuid(),
      };
      this.o
        .sql(
          `INSERT INTO aliases (account, region, name, alias, function_version, description, revision_id)
           VALUES (@account, @region, @name, @alias, @function_version, @description, @revision_id)`,
        )
        .run(row);
      this.writeRoutes(caller, functionName, input.name, weights);
      return toAlias(row, weights);
    })();
  }

  /** GetAlias. */
  get(caller: Caller, functionName: string, name: string): Alias {
    const row = this.requireForFunction(caller, functionName, name, 'alias');
    return toAlias(row, this.routesOf(caller, functionName, name));
  }

  /** ListAliases (optionally only those whose primary or additional version is `functionVersion`). */
  list(caller: Caller, functionName: string, opts: { functionVersion?: string; marker?: string; maxItems?: number } = {}): { aliases: Alias[]; nextMarker?: string } {
    const limit = opts.maxItems ?? DEFAULT_LIST_ITEMS;
    if (!this.o.rows.functionRow(caller, functionName)) {
      throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, functionName) });
    }
    const after = opts.marker === undefined ? undefined : decodeAliasMarker(opts.marker);
    const params: unknown[] = [caller.account, caller.region, functionName];
    let filter = '';
    if (opts.functionVersion !== undefined) {
      filter = `AND (a.function_version = ? OR EXISTS (SELECT 1 FROM alias_routes r WHERE r.account = a.account AND r.region = a.region
                AND r.name = a.name AND r.alias = a.alias AND r.version = ?))`;
      params.push(opts.functionVersion, opts.functionVersion);
    }
    if (after !== undefined) {
      filter += ' AND a.alias > ?';
      params.push(after);
    }
    const rows = this.o
      .sql(`SELECT a.* FROM aliases a WHERE a.account = ? AND a.region = ? AND a.name = ? ${filter} ORDER BY a.alias LIMIT ?`)
      .all(...params, limit + 1) as AliasRow[];
    const page = rows.slice(0, limit).map((r) => toAlias(r, this.routesOf(caller, functionName, r.alias)));
    const last = rows[limit - 1];
    return rows.length > limit && last ? { aliases: page, nextMarker: encodeAliasMarker(last.alias) } : { aliases: page };
  }

  /** UpdateAlias. */
  update(caller: Caller, functionName: string, name: string, patch: AliasPatch): Alias {
    return this.o.db.transaction(() => {
      const row = this.requireForFunction(caller, functionName, name, 'alias');
      if (patch.revisionId !== undefined && patch.revisionId !== row.revision_id) throw awsError('revisionMismatch', {});
      const weights = patch.additionalVersionWeights ?? this.routesOf(caller, functionName, name);
      const next: AliasRow = {
        ...row,
        function_version: patch.functionVersion ?? row.function_version,
        description: patch.description ?? row.description,
        revision_id: this.o.uuid(),
      };
      this.checkTargets(caller, functionName, next.function_version, weights);
      this.o
        .sql(
          `UPDATE aliases SET function_version = @function_version, description = @description, revision_id = @revision_id
           WHERE account = @account AND region = @region AND name = @name AND alias = @alias`,
        )
        .run(next);
      this.writeRoutes(caller, functionName, name, weights);
      return toAlias(next, weights);
    })();
  }

  /** DeleteAlias. */
  delete(caller: Caller, functionName: string, name: string): void {
    this.o.db.transaction(() => {
      this.requireForFunction(caller, functionName, name, 'alias');
      this.o.sql('DELETE FROM aliases WHERE account = ? AND region = ? AND name = ? AND alias = ?').run(caller.account, caller.region, functionName, name);
    })();
  }

  /** The version invocations run (the previous configuration while an update is not complete). */
  private runnable(caller: Caller, name: string, version: string, qualified: boolean): FunctionVersion {
    return this.o.rows.toVersion(runnableRow(this.o.rows.requireVersionRow(caller, name, version, qualified)));
  }

  private aliasRow(caller: Caller, name: string, alias: string): AliasRow | undefined {
    return this.o
      .sql('SELECT * FROM aliases WHERE account = ? AND region = ? AND name = ? AND alias = ?')
      .get(caller.account, caller.region, name, alias) as AliasRow | undefined;
  }

  private routesOf(caller: Caller, name: string, alias: string): Record<string, number> {
    const rows = this.o
      .sql('SELECT version, weight FROM alias_routes WHERE account = ? AND region = ? AND name = ? AND alias = ? ORDER BY version')
      .all(caller.account, caller.region, name, alias) as { version: string; weight: number }[];
    return Object.fromEntries(rows.map((r) => [r.version, r.weight]));
  }

  /**
   * The alias row, or: functionNotFound (unqualified ARN) if the function does not exist;
   * for a missing alias, functionNotFound with the qualified ARN when reached through a
   * function reference (GetFunction, Invoke) or aliasNotFound (GetAlias, ...).
   */
  private requireForFunction(caller: Caller, name: string, alias: string, via: 'function' | 'alias'): AliasRow {
    const row = this.aliasRow(caller, name, alias);
    if (row) return row;
    if (!this.o.rows.functionRow(caller, name)) throw awsError('functionNotFound', { arn: functionArn(caller.region, caller.account, name) });
    const arn = aliasArn(caller.region, caller.account, name, alias);
    throw via === 'alias' ? awsError('aliasNotFound', { arn }) : awsError('functionNotFound', { arn });
  }

  /** The primary and additional versions must be valid, existing versions of the function. */
  private checkTargets(caller: Caller, name: string, primary: string, weights: Readonly<Record<string, number>>): void {
    checkVersion(primary);
    this.o.rows.requireVersionRow(caller, name, primary, true);
    checkRouting(primary, weights);
    for (const v of Object.keys(weights)) this.o.rows.requireVersionRow(caller, name, v, true);
  }

  private writeRoutes(caller: Caller, name: string, alias: string, weights: Readonly<Record<string, number>>): void {
    this.o.sql('DELETE FROM alias_routes WHERE account = ? AND region = ? AND name = ? AND alias = ?').run(caller.account, caller.region, name, alias);
    const ins = this.o.sql('INSERT INTO alias_routes (account, region, name, alias, version, weight) VALUES (?, ?, ?, ?, ?, ?)');
    for (const [v, w] of Object.entries(weights)) ins.run(caller.account, caller.region, name, alias, v, w);
  }
}

function toAlias(r: AliasRow, weights: Readonly<Record<string, number>>): Alias {
  return Object.freeze({
    account: r.account,
    region: r.region,
    functionName: r.name,
    aliasArn: aliasArn(r.region, r.account, r.name, r.alias),
    name: r.alias,
    functionVersion: r.function_version,
    description: r.description,
    additionalVersionWeights: Object.freeze({ ...weights }),
    revisionId: r.revision_id,
  });
}
