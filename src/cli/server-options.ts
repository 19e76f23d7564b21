import { totalmem } from 'node:os';
import { z } from 'zod';
import { parseKeepAliveSpec } from './keep-alive-spec.js';

/**
 * Every option of `lambkin serve`, validated once here, defaults applied, then frozen.
 * Durations are milliseconds.
 */
export const serverOptionsSchema = z
  .object({
    /** Interface to listen on. Default 127.0.0.1. */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port; 0 picks a free one. Default 4590. */
    port: z.number().int().min(0).max(65535).default(4590),
    /** Where functions, code, queues and logs live. Default ./.lambkin */
    dataDir: z.string().min(1).default('.lambkin'),
    /** Region assumed when a request carries no SigV4 scope. Default us-east-1. */
    defaultRegion: z.string().min(1).default('us-east-1'),
    /** An idle sandbox is stopped after this long. Default 10 minutes. */
    keepAliveMs: z.number().int().positive().default(600_000),
    /**
     * `fixed` (the keep-alive above, as AWS does), `fixed:10m`, or `hybrid[:key=value,...]`, the
     * hybrid histogram policy of "Serverless in the Wild" (ATC '20). Default `fixed`.
     */
    keepAlivePolicy: z
      .string()
      .default('fixed')
      .refine(
        (s) => {
          try {
            parseKeepAliveSpec(s);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'use fixed, fixed:DURATION, hybrid or hybrid:key=value,...' },
      ),
    /** Memory capacity of one worker. Default 3072 MB. */
    workerMemoryMb: z.number().int().min(128).default(3072),
    /** Budget of configured MemorySize on this host. Default 75% of this machine's RAM. */
    hostMemoryMb: z
      .number()
      .int()
      .min(128)
      .default(() => Math.floor((totalmem() / 1024 / 1024) * 0.75)),
    /** A worker with no sandboxes is retired after this long. Default 5 minutes. */
    workerIdleMs: z.number().int().positive().default(300_000),
    /**
     * Concurrent executions per account. Default 1000 (Lambda's default quota). Reserved concurrency
     * must leave at least min(100, 10% of this) unreserved (AWS: 100 of the default 1000).
     */
    accountConcurrency: z.number().int().min(1).default(1000),
    /** `hyperplane` (Lambda since Sept 2019) or `legacy` (an ENI per worker, the seed's model). */
    vpcMode: z.enum(['hyperplane', 'legacy']).default('hyperplane'),
    /**
     * Durations added for steps with no local counterpart (worker provisioning, ENI creation, code
     * download, platform init share): `none` (default, adds nothing), `aws-2019` (the seed's
     * measurements), or a path to a profile .json file.
     */
    latencyProfile: z.string().min(1).default('none'),
    /** Multiplies every profile duration (0.1 turns the 10 s ENI into 1 s). Default 1. */
    timeScale: z.number().finite().positive().default(1),
    /** Seed of the profile's random draws; the same seed gives the same delays. Default 1. */
    seed: z.number().int().nonnegative().default(1),
    /**
     * Sandbox isolation: `auto` (the strongest this machine supports), `none` (plain processes),
     * `cgroups` (MemorySize enforced, CPU in proportion to memory), `namespaces` (cgroups plus PID
     * and mount namespaces, an unprivileged user, read-only code at /var/task, a private /tmp).
     * Default `none` for embedded use; `lambkin serve` defaults to `auto`.
     */
    isolation: z.enum(['auto', 'none', 'cgroups', 'namespaces']).default('none'),
    /**
     * What a sealed sandbox (full isolation) reaches besides its Runtime API, lambkin's sandbox-facing
     * endpoint and the X-Ray daemon: `none` (default) nothing; `nat` the internet through NAT (never
     * the host, other sandboxes, private or link-local networks). Needs ip(8) and nft(8).
     */
    sandboxNetwork: z.enum(['none', 'nat']).default('none'),
    /** Trace every invocation, as if every function's TracingConfig were Active. Default false. */
    traceAll: z.boolean().default(false),
    /** Traces older than this are deleted. Default 30 days (X-Ray keeps traces 30 days). */
    traceRetentionMs: z.number().int().positive().default(30 * 24 * 3_600_000),
    /** Longest init before the sandbox is failed. Default 10 s, as on Lambda. */
    initTimeoutMs: z.number().int().positive().default(10_000),
    /** The interpreter for python3.* runtimes. Default python3. */
    python: z.string().min(1).default('python3'),
    /** Delays before the retries of a failed async invocation. Default [60 s, 120 s], as on Lambda. */
    eventRetryDelaysMs: z.array(z.number().int().min(0)).max(2).default([60_000, 120_000]),
    /** Asynchronous events running at once. Default 16. */
    eventConcurrency: z.number().int().min(1).default(16),
    /**
     * Authentication of the host API (Lambda and X-Ray routes; /lambkin/health is always open).
     * `any` (default): any credentials, or none, are accepted, the account read from a 12-digit
     * access key id; keys lambkin issued (`lambkin credentials create`, sandbox credentials) are
     * still verified and act as their own account. `strict`: every request must be SigV4-signed
     * with an issued key. The sandbox-facing endpoint accepts only sandbox credentials either way.
     */
    auth: z.enum(['any', 'strict']).default('any'),
  })
  .strict();

export type ServerOptionsInput = z.input<typeof serverOptionsSchema>;
export type ServerOptions = Readonly<z.output<typeof serverOptionsSchema>>;

/** Validates, applies defaults and freezes; throws a readable error on bad options. */
export function resolveServerOptions(input: ServerOptionsInput): ServerOptions {
  const parsed = serverOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ');
    throw new Error(`invalid lambkin options: ${detail}`);
  }
  return Object.freeze({ ...parsed.data, eventRetryDelaysMs: Object.freeze([...parsed.data.eventRetryDelaysMs]) }) as ServerOptions;
}
