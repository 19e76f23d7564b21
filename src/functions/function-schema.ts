/**
 * The registry's tables and their row shapes: `functions` (one row per function, holding the
 * last published version number), `function_versions` (`$LATEST` and every published version),
 * `aliases` and `alias_routes` (an alias's weighted additional version).
 *
 * The migrations are append-only: the database records a checksum of each applied migration's
 * SQL and refuses to start if it changed, so users' databases keep opening.
 */
import type { Migration } from '../store/database.js';

/** The registry's tables. Append new migrations; never edit an applied one. */
export const functionsMigrations: readonly Migration[] = [
  {
    id: 'functions-001',
    sql: `
CREATE TABLE functions (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  last_version INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  PRIMARY KEY (account, region, name)
) STRICT;

CREATE TABLE function_versions (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  version_num INTEGER NOT NULL,
  runtime TEXT NOT NULL,
  role TEXT NOT NULL,
  handler TEXT,
  description TEXT NOT NULL,
  timeout INTEGER NOT NULL,
  memory_size INTEGER NOT NULL,
  ephemeral_storage INTEGER NOT NULL,
  architectures TEXT NOT NULL,
  package_type TEXT NOT NULL,
  environment TEXT,
  vpc_config TEXT,
  tracing_mode TEXT NOT NULL,
  code_sha256 TEXT NOT NULL,
  code_size INTEGER NOT NULL,
  last_modified TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  config_id TEXT NOT NULL,
  state TEXT NOT NULL,
  state_reason TEXT,
  state_reason_code TEXT,
  last_update_status TEXT NOT NULL,
  published_as TEXT,
  PRIMARY KEY (account, region, name, version),
  FOREIGN KEY (account, region, name) REFERENCES functions (account, region, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX function_versions_code ON function_versions (code_sha256);

CREATE TABLE aliases (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  function_version TEXT NOT NULL,
  description TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  PRIMARY KEY (account, region, name, alias),
  FOREIGN KEY (account, region, name) REFERENCES functions (account, region, name) ON DELETE CASCADE,
  FOREIGN KEY (account, region, name, function_version) REFERENCES function_versions (account, region, name, version)
) STRICT;

CREATE TABLE alias_routes (
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version TEXT NOT NULL,
  weight REAL NOT NULL,
  PRIMARY KEY (account, region, name, alias, version),
  FOREIGN KEY (account, region, name, alias) REFERENCES aliases (account, region, name, alias) ON DELETE CASCADE,
  FOREIGN KEY (account, region, name, version) REFERENCES function_versions (account, region, name, version)
) STRICT;
`,
  },
  {
    // LastUpdateStatusReason / ReasonCode, and the configuration invocations still run while an
    // update is not complete (hyperplane VPC changes: LastUpdateStatus InProgress until the ENI exists).
    id: 'functions-002',
    sql: `
ALTER TABLE function_versions ADD COLUMN last_update_status_reason TEXT;
ALTER TABLE function_versions ADD COLUMN last_update_status_reason_code TEXT;
ALTER TABLE function_versions ADD COLUMN previous_config TEXT;
`,
  },
];

/** A `function_versions` row. */
export interface VersionRow {
  account: string;
  region: string;
  name: string;
  version: string;
  version_num: number;
  runtime: string;
  role: string;
  handler: string | null;
  description: string;
  timeout: number;
  memory_size: number;
  ephemeral_storage: number;
  architectures: string;
  package_type: string;
  environment: string | null;
  vpc_config: string | null;
  tracing_mode: string;
  code_sha256: string;
  code_size: number;
  last_modified: string;
  revision_id: string;
  config_id: string;
  state: string;
  state_reason: string | null;
  state_reason_code: string | null;
  last_update_status: string;
  last_update_status_reason: string | null;
  last_update_status_reason_code: string | null;
  /** JSON of the {@link PREVIOUS_COLUMNS} invocations still run while an update is not complete. */
  previous_config: string | null;
  published_as: string | null;
}

/** The columns of the configuration that runs (kept as `previous_config` while an update is in progress). */
export const PREVIOUS_COLUMNS = [
  'runtime', 'role', 'handler', 'description', 'timeout', 'memory_size', 'ephemeral_storage', 'architectures',
  'environment', 'vpc_config', 'tracing_mode', 'code_sha256', 'code_size', 'last_modified', 'revision_id', 'config_id',
] as const satisfies readonly (keyof VersionRow)[];

/** An `aliases` row (its routing is in `alias_routes`). */
export interface AliasRow {
  account: string;
  region: string;
  name: string;
  alias: string;
  function_version: string;
  description: string;
  revision_id: string;
}
