/**
 * The composition root: wires the store, function registry, worker manager, fleet, invoke
 * service, event queue and frontend into one running lambkin. `lambkin serve` and the tests
 * both start lambkin through here.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { openDatabase } from '../store/database.js';
import { CodeStore } from '../functions/code-store.js';
import type { FunctionVersion } from '../functions/function-version.js';
import { FunctionRegistry } from '../functions/registry.js';
import { substituteNote } from '../functions/runtimes.js';
import { functionArn, parseFunctionName } from '../functions/names.js';
import { AwsError, awsError } from '../errors/catalogue.js';
import { WorkerManager } from '../worker-manager/worker-manager.js';
import { createKeepAlivePolicy } from '../worker-manager/keep-alive-config.js';
import { parseKeepAliveSpec } from './keep-alive-spec.js';
import { Fleet } from '../fleet/fleet.js';
import { ProcessDriver, type SandboxIdentity } from '../fleet/process-driver.js';
import { Isolation } from '../fleet/isolation/isolation.js';
import type { SandboxDriver, SandboxSpec } from '../fleet/sandbox-driver.js';
import { InvokeService, type InvocableVersion } from '../invocations/invoke-service.js';
import { EventQueue, eventQueueMigrations, type EventOutcome, type QueuedEvent } from '../invocations/event-queue.js';
import { LogStore, logsDir } from '../invocations/log-store.js';
import { HttpServer } from '../frontend/http-server.js';
import { lambdaRoutes } from '../frontend/lambda-api.js';
import { invokeRoutes } from '../frontend/invoke-api.js';
import { adminRoutes } from '../frontend/admin-api.js';
import { concurrencyRoutes, unreservedConcurrency } from '../frontend/concurrency-api.js';
import { ConcurrencyStore } from '../functions/concurrency-store.js';
import { ConcurrencyController, functionKeyOf } from '../invocations/provisioned.js';
import { HyperplaneEnis, initialStateFor, vpcKeyOf } from '../invocations/vpc-enis.js';
import { createSampler, loadProfile, stepDelays } from '../profiles/latency-profile.js';
import { TraceStore, startRetention } from '../tracing/trace-store.js';
import { Tracer } from '../tracing/tracer.js';
import { XrayDaemon } from '../tracing/xray-daemon.js';
import { xrayRoutes } from '../frontend/xray-api.js';
import { authenticator } from '../frontend/authenticator.js';
import { HostCredentials } from '../frontend/host-credentials.js';
import { SandboxCredentials } from '../frontend/sandbox-credentials.js';
import { realClock, type Clock } from '../util/clock.js';
import { resolveServerOptions, type ServerOptions, type ServerOptionsInput } from './server-options.js';

const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };

export interface StartOptions extends ServerOptionsInput {
  /** Replaces the process driver (tests of the layers above the fleet). */
  readonly driver?: SandboxDriver;
  /**
   * The one clock everything below reads and sets timers on (default: the real clock). A `driver`
   * given here must run on the same clock: its deadlines come from this one.
   */
  readonly clock?: Clock;
  /** Operational messages (start-up notes, dropped events, internal errors). Default: stderr. */
  readonly log?: (line: string) => void;
}

/** A running lambkin. */
export interface Lambkin {
  readonly url: string;
  readonly port: number;
  readonly options: ServerOptions;
  readonly registry: FunctionRegistry;
  readonly workerManager: WorkerManager;
  readonly logs: LogStore;
  readonly queue: EventQueue;
  /**
   * The sandbox-facing endpoint: the Lambda and X-Ray APIs again, for sandbox credentials only, on
   * a Unix socket (for sandboxes in their own network namespace, through a relay) and on loopback TCP.
   */
  readonly sandboxEndpoint: {
    /** `<dataDir>/run/sandbox-api.sock`; absent when the path is too long for a Unix socket (a note is logged). */
    readonly socketPath?: string;
    /** `http://127.0.0.1:PORT`: what sandboxes get as AWS_ENDPOINT_URL. */
    readonly url: string;
  };
  /** Issued keys: host keys (SQLite) and the live sandboxes' temporary ones. */
  readonly credentials: { readonly host: HostCredentials; readonly sandbox: SandboxCredentials };
  /** Stops accepting requests, lets in-flight ones finish, stops every sandbox, closes the store. */
  close(): Promise<void>;
  /** Like close, but drops open connections first (a second Ctrl-C). */
  abort(): void;
}

/** `3.11.7` from `python3 --version`, asked once and only when a Python function first starts. */
const pythonVersions = new Map<string, string | undefined>();
function localPythonVersion(python: string): string | undefined {
  if (!pythonVersions.has(python)) {
    try {
      pythonVersions.set(python, /Python (\S+)/.exec(execFileSync(python, ['--version'], { encoding: 'utf8' }))?.[1]);
    } catch {
      pythonVersions.set(python, undefined);
    }
  }
  return pythonVersions.get(python);
}

export async function startLambkin(input: StartOptions = {}): Promise<Lambkin> {
  const { driver: givenDriver, clock = realClock, log = (l: string) => console.error(l), ...rest } = input;
  const options = resolveServerOptions(rest);
  // A bad profile name or file fails start-up before anything is opened.
  const delays = stepDelays(createSampler(loadProfile(options.latencyProfile), { seed: options.seed, timeScale: options.timeScale }));
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });

  const db = openDatabase(join(dataDir, 'lambkin.db'), eventQueueMigrations, { clock });
  // What start-up has opened, closed in reverse order when a later step fails (an --isolation this
  // machine lacks, a port in use), so that a failed start leaves no socket, timer or cgroup behind.
  const opened: (() => unknown)[] = [() => db.close()];
  const failStart = async (err: unknown): Promise<never> => {
    for (const close of opened.reverse()) await close();
    throw err;
  };
  const code = new CodeStore(dataDir);
  const hostKeys = new HostCredentials(db, clock);
  const sandboxKeys = new SandboxCredentials();
  const registry = new FunctionRegistry({ db, code, clock, initialState: initialStateFor(options.vpcMode) });
  const concurrency = new ConcurrencyStore(db);
  const keepAlive = options.keepAlivePolicy === 'fixed' ? undefined : createKeepAlivePolicy(parseKeepAliveSpec(options.keepAlivePolicy));
  const workerManager = new WorkerManager({
    hostMemoryMb: Math.max(options.hostMemoryMb, options.workerMemoryMb),
    workerMemoryMb: options.workerMemoryMb,
    keepAliveMs: options.keepAliveMs,
    workerIdleMs: options.workerIdleMs,
    accountConcurrency: options.accountConcurrency,
    vpcMode: options.vpcMode,
  }, undefined, keepAlive);
  const logs = new LogStore(logsDir(dataDir));
  const traceStore = new TraceStore(db, { clock, retentionMs: options.traceRetentionMs });
  const retention = startRetention(traceStore, clock);
  opened.push(() => retention.close());
  const tracer = new Tracer({ store: traceStore, clock, traceAll: options.traceAll, onError: (e) => log(`lambkin: could not store a trace: ${String(e)}`) });
  // The X-Ray daemon protocol (UDP) on loopback, so X-Ray SDKs inside functions add their subsegments.
  // Sandboxes with a network of their own reach lambkin through Unix sockets under <data dir>/run; a
  // socket's path holds at most 107 bytes, so a data dir too deep for one costs that endpoint only.
  const runDir = join(dataDir, 'run');
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const socketFor = (name: string): string | undefined => {
    const path = join(runDir, name);
    if (Buffer.byteLength(path) <= 107) return path;
    log(`lambkin: ${path} is too long for a Unix socket; sandboxes with a network of their own cannot reach ${name === 'xray.sock' ? 'the X-Ray daemon' : 'the sandbox-facing endpoint'}`);
    return undefined;
  };
  const xraySocket = socketFor('xray.sock');
  const awsSocket = socketFor('sandbox-api.sock');
  const xrayDaemon = await XrayDaemon.start({ store: traceStore, host: '127.0.0.1', port: 0, ...(xraySocket ? { streamSocketPath: xraySocket } : {}) }).catch(failStart);
  opened.push(() => xrayDaemon.close());
  const [, daemonPort = ''] = xrayDaemon.address.split(':');

  let isolation: Isolation | undefined;
  try {
    // Throws at start-up when an explicitly requested level is not available here.
    isolation = givenDriver ? undefined : Isolation.create({
          request: options.isolation,
          sandboxNetwork: options.sandboxNetwork,
          protectedPaths: [dataDir],
          runDir,
          ...(xraySocket ? { xraySocket } : {}),
          ...(awsSocket ? { awsEndpointSocket: awsSocket } : {}),
          log,
        });
  } catch (err) {
    return failStart(err);
  }
  // The fleet's driver closes it too; closing twice is harmless.
  opened.push(() => isolation?.close());
  await isolation?.networkReady().catch(failStart);
  // Set once the sandbox-facing endpoint listens, before any sandbox can start.
  let sandboxEndpointUrl = '';
  const sandboxIdentity: SandboxIdentity = {
    environment: (spec, endpointUrl = sandboxEndpointUrl) => {
      let role: string | undefined;
      try {
        role = registry.get({ account: spec.account, region: spec.region }, { name: spec.functionName, qualifier: spec.functionVersion }).role;
      } catch {
        role = undefined; // deleted meanwhile: the session is named after a generic role
      }
      const keys = sandboxKeys.issue({
        sandboxId: spec.sandboxId,
        account: spec.account,
        region: spec.region,
        functionArn: functionArn(spec.region, spec.account, spec.functionName),
        ...(role ? { role } : {}),
      });
      // AWS_ENDPOINT_URL_<SERVICE> as the SDKs read them (service-specific endpoints).
      return { ...keys, AWS_ENDPOINT_URL: endpointUrl, AWS_ENDPOINT_URL_LAMBDA: endpointUrl, AWS_ENDPOINT_URL_XRAY: endpointUrl };
    },
    revoke: (sandboxId) => sandboxKeys.revoke(sandboxId),
  };
  const driver =
    givenDriver ??
    new ProcessDriver({
      ...(isolation ? { isolation } : {}),
      initTimeoutMs: options.initTimeoutMs,
      python: options.python,
      sandboxIdentity,
      clock,
      extraEnv: {
        AWS_XRAY_DAEMON_ADDRESS: xrayDaemon.address,
        _AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1',
        _AWS_XRAY_DAEMON_PORT: daemonPort,
        AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
      },
      substituteNote: (runtime) => {
        const python = runtime.startsWith('python') ? localPythonVersion(options.python) : undefined;
        return substituteNote(runtime, new Date(clock.now()), { node: process.version, ...(python ? { python } : {}) });
      },
    });
  const fleet: Fleet = new Fleet({
    driver,
    // Called only once sandboxes start, after `invoker` below is initialised.
    specFor: (step): SandboxSpec => invoker.specFor(step),
    delays,
    clock,
    onBackgroundError: (step, err) => log(`lambkin: ${step.kind} failed: ${String(err)}`),
  });
  opened.push(() => fleet.close());
  const invoker = new InvokeService({ workerManager, fleet, clock, logs, tracer });

  registry.onChange((e) => {
    if (e.kind === 'state' || e.kind === 'created') return;
    // An update still InProgress keeps running the previous configuration, warm sandboxes included;
    // HyperplaneEnis retires them when the update completes.
    if (e.kind === 'updated' && registry.get(e.caller, { name: e.name }).lastUpdateStatus === 'InProgress') return;
    invoker.retire(functionKeyOf(e.caller, e.name), e.kind === 'deleted' && e.version === '$LATEST' ? undefined : e.version);
  });

  const invocable = (v: FunctionVersion): InvocableVersion => {
    const reserved = concurrency.reserved(v, v.functionName);
    return {
      account: v.account,
      region: v.region,
      functionName: v.functionName,
      functionArn: functionArn(v.region, v.account, v.functionName),
      version: v.version,
      versionKey: v.versionKey,
      runtime: v.runtime,
      handler: v.handler ?? '',
      codeDir: v.codeDir,
      memorySize: v.memorySize,
      ephemeralStorageMb: v.ephemeralStorageMb,
      timeout: v.timeout,
      environment: v.environment ?? {},
      tracingMode: v.tracingMode,
      ...(v.vpcConfig ? { vpcKey: vpcKeyOf(v.vpcConfig) } : {}),
      ...(reserved !== undefined ? { reservedConcurrency: reserved } : {}),
    };
  };
  const enis = new HyperplaneEnis({ mode: options.vpcMode, registry, workerManager, invoker, clock, log });
  const controller = new ConcurrencyController({ registry, store: concurrency, workerManager, invoker, clock, invocable, log });
  /** For invocations: a hyperplane VPC version whose ENI is not there (yet, or again) cannot run. */
  const invocableNow = (v: FunctionVersion): InvocableVersion => {
    if (enis.notReady(v)) throw awsError('functionNotReady', { state: 'Pending', reason: 'Restoring' });
    return invocable(v);
  };

  const runEvent = async (e: QueuedEvent): Promise<EventOutcome> => {
    const caller = { account: e.account, region: e.region };
    let resolved;
    try {
      const ref = parseFunctionName(e.functionName, { caller, qualifier: e.qualifier });
      resolved = registry.resolve(caller, ref);
    } catch (err) {
      if (err instanceof AwsError && err.status === 404) return { kind: 'gone' };
      throw err;
    }
    if (resolved.version.state !== 'Active' || enis.notReady(resolved.version)) return { kind: 'throttled' };
    try {
      const v = resolved.version;
      const result = await invoker.invoke(invocable(v), {
        requestId: e.requestId,
        payload: e.payload,
        invokedFunctionArn: functionArn(v.region, v.account, v.functionName, e.qualifier),
        ...(e.traceHeader ? { traceHeader: e.traceHeader } : {}),
      });
      return result.functionError ? { kind: 'function-error' } : { kind: 'done' };
    } catch (err) {
      if (err instanceof AwsError && err.type === 'TooManyRequestsException') return { kind: 'throttled' };
      throw err;
    }
  };
  const queue = new EventQueue({
    db,
    clock,
    run: runEvent,
    retryDelaysMs: options.eventRetryDelaysMs,
    throttleBackoffMs: 1000,
    concurrency: options.eventConcurrency,
    onDropped: (e, why) => log(`lambkin: dropped async event ${e.requestId} for ${e.functionName}: ${why}`),
    onError: (e, err) => log(`lambkin: could not record the outcome of async event ${e.requestId}: ${String(err)}`),
  });
  opened.push(() => queue.close());

  const startedAt = clock.now();
  const onInternalError = (err: unknown) => log(`lambkin: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  const authDeps = { hostKeys, sandboxKeys, clock, defaultRegion: options.defaultRegion };
  // The Lambda and X-Ray APIs: the host API serves them (with lambkin's own endpoints), and so does the sandbox-facing endpoint.
  const apiRoutes = [
    ...lambdaRoutes({
      registry,
      accountSettings: (account, region) => ({
        concurrentExecutions: options.accountConcurrency,
        unreservedConcurrentExecutions: unreservedConcurrency(concurrency, { account, region }, options.accountConcurrency),
      }),
      reservedConcurrency: (caller, name) => concurrency.reserved(caller, name),
    }),
    ...concurrencyRoutes({ registry, store: concurrency, controller, accountConcurrency: options.accountConcurrency, clock }),
    ...invokeRoutes({ registry, invoker, queue, invocable: invocableNow }),
    ...xrayRoutes({ store: traceStore, clock }),
  ];
  const http = await HttpServer.start({
    host: options.host,
    port: options.port,
    defaultRegion: options.defaultRegion,
    onInternalError,
    clock,
    authenticate: authenticator(options.auth, authDeps),
    routes: [
      ...apiRoutes,
      ...adminRoutes({
        startedAt,
        clock,
        version: pkg.version,
        fleetView: () => workerManager.view(),
        zipPath: (hex) => {
          const sha = Buffer.from(hex, 'hex').toString('base64');
          return code.has(sha) ? code.zipPath(sha) : undefined;
        },
        stats: () => ({ queuedEvents: queue.depth() }),
      }),
    ],
  }).catch(failStart);
  opened.push(() => http.close());
  const sandboxApi = { host: '127.0.0.1', port: 0, defaultRegion: options.defaultRegion, onInternalError, clock, authenticate: authenticator('sandbox', authDeps), routes: apiRoutes };
  const sandboxTcp = await HttpServer.start(sandboxApi).catch(failStart);
  opened.push(() => sandboxTcp.close());
  const sandboxUnix = awsSocket ? await HttpServer.start({ ...sandboxApi, socketPath: awsSocket }).catch(failStart) : undefined;
  if (sandboxUnix) opened.push(() => sandboxUnix.close());
  const sandboxSocketPath = sandboxUnix ? awsSocket : undefined;
  sandboxEndpointUrl = sandboxTcp.url;
  // ENIs first: provisioned concurrency of hyperplane VPC versions waits for them.
  enis.start();
  controller.start();
  queue.pump();
  // Code left by a server that stopped without its final clean-up (a crash, a kill). Only at start-up:
  // later, retired sandboxes may still be running from code an update replaced. close() waits for it.
  registry.collectGarbage().catch((e: unknown) => log(`lambkin: code clean-up failed: ${String(e)}`));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await Promise.all([http.close(), sandboxTcp.close(), sandboxUnix?.close()]);
      await queue.close();
      controller.close();
      enis.close();
      invoker.close();
      await fleet.close();
      await invoker.settled();
      await registry.collectGarbage().catch(() => undefined);
      retention.close();
      await xrayDaemon.close();
      db.close();
    })());

  return {
    url: http.url,
    port: http.port,
    options,
    registry,
    workerManager,
    logs,
    queue,
    sandboxEndpoint: { ...(sandboxSocketPath !== undefined ? { socketPath: sandboxSocketPath } : {}), url: sandboxTcp.url },
    credentials: { host: hostKeys, sandbox: sandboxKeys },
    close,
    abort: () => {
      http.destroyConnections();
      sandboxTcp.destroyConnections();
      sandboxUnix?.destroyConnections();
      void close();
    },
  };
}
