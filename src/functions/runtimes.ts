/**
 * Every Lambda runtime identifier AWS has used, and which of them lambkin can run.
 *
 * lambkin runs `nodejs*` (on the local Node.js), `python3.*` (on the local Python 3) and
 * `provided*` (the zip's own `bootstrap`). Java, .NET, Ruby, Go and Python 2 identifiers are
 * known to AWS, so CreateFunction answers them with an explanation rather than "unknown runtime".
 * Deprecated identifiers (nodejs8.10, python3.6, ...) are accepted: old functions keep working,
 * and the fleet logs once that they run on the local interpreter's version instead.
 */
import { awsError } from '../errors/catalogue.js';

/** How lambkin runs a runnable runtime (see {@link runtimeFamily}). */
export type RuntimeFamily = 'nodejs' | 'python' | 'provided';

/** One runtime identifier AWS has used. */
export interface RuntimeInfo {
  readonly id: string;
  /** The language family AWS groups it under (`java`, `dotnet`, ... for unrunnable ones). */
  readonly language: 'nodejs' | 'python' | 'provided' | 'java' | 'dotnet' | 'ruby' | 'go';
  /** The language version the identifier names (`8.10` for nodejs8.10, `al2023` for provided.al2023). */
  readonly languageVersion: string;
  /** True if lambkin can run it. */
  readonly runnable: boolean;
  /** The day AWS deprecated it (ISO date), if it has been announced. */
  readonly deprecated?: string;
}

function rt(id: string, language: RuntimeInfo['language'], languageVersion: string, deprecated?: string): RuntimeInfo {
  const runnable = language === 'nodejs' || language === 'provided' || (language === 'python' && languageVersion.startsWith('3.'));
  return Object.freeze(deprecated === undefined ? { id, language, languageVersion, runnable } : { id, language, languageVersion, runnable, deprecated });
}

// Deprecation dates from AWS's "Lambda runtimes" page (phase 1: no more security patches).
const RUNTIMES: readonly RuntimeInfo[] = [
  rt('nodejs', 'nodejs', '0.10', '2016-10-31'),
  rt('nodejs4.3', 'nodejs', '4.3', '2020-03-05'),
  rt('nodejs4.3-edge', 'nodejs', '4.3', '2019-04-30'),
  rt('nodejs6.10', 'nodejs', '6.10', '2019-08-12'),
  rt('nodejs8.10', 'nodejs', '8.10', '2020-03-06'),
  rt('nodejs10.x', 'nodejs', '10', '2021-07-30'),
  rt('nodejs12.x', 'nodejs', '12', '2023-03-31'),
  rt('nodejs14.x', 'nodejs', '14', '2023-12-04'),
  rt('nodejs16.x', 'nodejs', '16', '2024-06-12'),
  rt('nodejs18.x', 'nodejs', '18', '2025-09-01'),
  rt('nodejs20.x', 'nodejs', '20', '2026-04-30'),
  rt('nodejs22.x', 'nodejs', '22', '2027-04-30'),
  rt('nodejs24.x', 'nodejs', '24', '2028-04-30'),
  rt('python2.7', 'python', '2.7', '2021-07-15'),
  rt('python3.6', 'python', '3.6', '2022-07-18'),
  rt('python3.7', 'python', '3.7', '2023-12-04'),
  rt('python3.8', 'python', '3.8', '2024-10-14'),
  rt('python3.9', 'python', '3.9', '2025-12-15'),
  rt('python3.10', 'python', '3.10', '2026-06-30'),
  rt('python3.11', 'python', '3.11', '2026-06-30'),
  rt('python3.12', 'python', '3.12', '2028-10-31'),
  rt('python3.13', 'python', '3.13', '2029-06-30'),
  rt('python3.14', 'python', '3.14', '2029-06-30'),
  rt('provided', 'provided', 'al1', '2024-01-08'),
  rt('provided.al2', 'provided', 'al2', '2026-06-30'),
  rt('provided.al2023', 'provided', 'al2023'),
  rt('java8', 'java', '8', '2024-01-08'),
  rt('java8.al2', 'java', '8', '2026-06-30'),
  rt('java11', 'java', '11'),
  rt('java17', 'java', '17'),
  rt('java21', 'java', '21'),
  rt('java25', 'java', '25'),
  rt('dotnetcore1.0', 'dotnet', '1.0', '2019-07-30'),
  rt('dotnetcore2.0', 'dotnet', '2.0', '2019-05-30'),
  rt('dotnetcore2.1', 'dotnet', '2.1', '2022-01-05'),
  rt('dotnetcore3.1', 'dotnet', '3.1', '2023-04-03'),
  rt('dotnet6', 'dotnet', '6', '2024-12-20'),
  rt('dotnet7', 'dotnet', '7', '2024-05-14'),
  rt('dotnet8', 'dotnet', '8'),
  rt('dotnet10', 'dotnet', '10'),
  rt('go1.x', 'go', '1.x', '2024-01-08'),
  rt('ruby2.5', 'ruby', '2.5', '2021-07-30'),
  rt('ruby2.7', 'ruby', '2.7', '2023-12-07'),
  rt('ruby3.2', 'ruby', '3.2', '2026-03-31'),
  rt('ruby3.3', 'ruby', '3.3'),
  rt('ruby3.4', 'ruby', '3.4'),
];

const BY_ID = new Map(RUNTIMES.map((r) => [r.id, r]));

/** Every runtime identifier AWS has used, in catalogue order. */
export const ALL_RUNTIMES: readonly string[] = Object.freeze(RUNTIMES.map((r) => r.id));

/** The identifiers lambkin runs; the list the `invalidRuntime` message names. */
export const RUNNABLE_RUNTIMES: readonly string[] = Object.freeze(RUNTIMES.filter((r) => r.runnable).map((r) => r.id));

/** What lambkin knows about `runtime`, or undefined for an identifier AWS never used. */
export function runtimeInfo(runtime: string): RuntimeInfo | undefined {
  return BY_ID.get(runtime);
}

/** True if lambkin can run `runtime`. */
export function isRunnableRuntime(runtime: string): boolean {
  return BY_ID.get(runtime)?.runnable === true;
}

/**
 * How lambkin runs `runtime`: `nodejs` (local Node.js + lambkin's runtime client), `python`
 * (local Python 3 + lambkin's runtime client), `provided` (the zip's `bootstrap`).
 * Throws for a runtime lambkin cannot run (check with {@link assertRunnableRuntime} first).
 */
export function runtimeFamily(runtime: string): RuntimeFamily {
  const info = BY_ID.get(runtime);
  if (!info?.runnable) throw new Error(`runtimeFamily: '${runtime}' is not a runtime lambkin runs`);
  return info.language as RuntimeFamily;
}

/**
 * True if AWS has deprecated `runtime` by `now`. The fleet uses it to log once that such a
 * function runs on the local interpreter (e.g. nodejs8.10 code on the local Node.js 20).
 */
export function isDeprecatedRuntime(runtime: string, now: Date): boolean {
  const d = BY_ID.get(runtime)?.deprecated;
  return d !== undefined && Date.parse(`${d}T00:00:00Z`) <= now.getTime();
}

/**
 * Throws unless lambkin can run `runtime`: `invalidRuntime` (AWS's enum message, listing the
 * runnable identifiers) for an unknown identifier, `invalidParameter` with an explanation for
 * one AWS knows but lambkin does not run.
 */
export function assertRunnableRuntime(runtime: string): void {
  const info = BY_ID.get(runtime);
  if (!info) throw awsError('invalidRuntime', { runtime, valid: [...RUNNABLE_RUNTIMES] });
  if (!info.runnable) {
    throw awsError('invalidParameter', {
      what:
        `The runtime parameter of ${runtime} is not supported by lambkin: it runs nodejs*, python3.* and provided* runtimes only. ` +
        `Package the function for a provided runtime (e.g. provided.al2023) with a bootstrap executable to run other languages.`,
    });
  }
}

/**
 * What a function's log says, once, when its runtime runs on a substitute: the local Node.js or
 * Python stands in for the version the identifier names. `local` gives the local versions
 * (`v20.20.2`, `3.11.7`); undefined when nothing needs saying.
 */
export function substituteNote(runtime: string, now: Date, local: { node: string; python?: string }): string | undefined {
  const info = runtimeInfo(runtime);
  if (!info || info.language === 'provided') return undefined;
  const where = info.language === 'nodejs' ? `Node.js ${local.node}` : `Python ${local.python ?? '3'}`;
  if (isDeprecatedRuntime(runtime, now)) return `lambkin: ${runtime} is deprecated on AWS Lambda; this function runs on the local ${where}`;
  const wanted = info.language === 'nodejs' ? info.languageVersion.split('.')[0] : info.languageVersion;
  const have = info.language === 'nodejs' ? local.node.replace(/^v/, '').split('.')[0] : local.python?.split('.').slice(0, 2).join('.');
  return have !== undefined && wanted !== have ? `lambkin: ${runtime} runs on the local ${where}` : undefined;
}
