/** Deterministic id sources for the placement core. */
import type { IdKind, IdSource } from './types.js';

const PREFIX: Readonly<Record<IdKind, string>> = { worker: 'w', sandbox: 'sb', eni: 'eni' };

/**
 * Counter-based ids: `w-1`, `sb-1`, `eni-1`, ... (one counter per kind), optionally namespaced
 * (`counterIds('sim')` yields `sim-w-1`). Two managers built with fresh sources mint identical ids.
 */
export function counterIds(namespace?: string): IdSource {
  const counters: Record<IdKind, number> = { worker: 0, sandbox: 0, eni: 0 };
  const ns = namespace === undefined || namespace === '' ? '' : `${namespace}-`;
  return {
    next(kind: IdKind): string {
      return `${ns}${PREFIX[kind]}-${++counters[kind]}`;
    },
  };
}
