/**
 * Registers `lambkin simulate` and `lambkin advise` on the CLI program. Light on purpose: the simulator
 * is imported only when one of them runs, so other commands start as fast as before.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { duration, int, positive } from './duration.js';

function memoryList(v: string): number[] {
  const xs = v.split(',').map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x < 128 || x > 10240)) throw new InvalidArgumentError('--memory takes MemorySizes 128..10240, e.g. 128,512,1769,3008');
  return xs;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Adds the two commands to `program`. */
export function addSimulatorCommands(program: Command): void {
  program
    .command('simulate')
    .description('predict cold starts, ENIs, latency and cost for a workload (discrete-event simulator on the placement core)')
    .argument('[spec]', 'workload spec (.yaml, .yml or .json)')
    .addOption(new Option('--preset <name>', 'built-in workload').choices(['seed-2019', 'azure-sample', 'bench']))
    .option('--azure-invocations <file>', 'Azure Functions 2019 trace: invocations_per_function_md.anon.dNN.csv')
    .option('--azure-durations <file>', "the trace's function_durations_percentiles.anon.dNN.csv")
    .option('--azure-memory <file>', "the trace's app_memory_percentiles.anon.dNN.csv")
    .addOption(new Option('--max-functions <n>', 'replay only the first N functions of the trace').argParser(int('--max-functions')))
    .option('--keep-alive <policy>', 'fixed, fixed:10m, hybrid or hybrid:key=value,... (repeat to compare policies)', collect, [])
    .addOption(new Option('--seed <n>', 'seed of every random draw').default(1).argParser(int('--seed')))
    .option('--latency-profile <profile>', "none, aws-2019 or a profile .json (default: the spec's, else aws-2019)")
    .addOption(new Option('--time-scale <f>', 'multiplies every profile delay').default(1).argParser(positive('--time-scale')))
    .addOption(new Option('--vpc-mode <mode>', "ENI model (default: the workload's)").choices(['hyperplane', 'legacy']))
    .addOption(new Option('--duration <duration>', "simulated time, e.g. 1h or 1d (default: the workload's)").argParser(duration))
    .addOption(new Option('--repeat <n>', 'seed-2019: runs of ten per case').default(100).argParser(int('--repeat')))
    .option('--json', 'print JSON instead of tables')
    .option('--html <file>', 'also write a self-contained HTML report')
    .option('--no-progress', 'no progress bar')
    .action(async (spec: string | undefined, o: Record<string, unknown>) => {
      const { runSimulateCommand } = await import('./simulate-command.js');
      try {
        await runSimulateCommand({
          spec,
          preset: o.preset as string | undefined,
          azureInvocations: o.azureInvocations as string | undefined,
          azureDurations: o.azureDurations as string | undefined,
          azureMemory: o.azureMemory as string | undefined,
          maxFunctions: o.maxFunctions as number | undefined,
          keepAlive: o.keepAlive as string[],
          seed: o.seed as number,
          profile: o.latencyProfile as string | undefined,
          timeScale: o.timeScale as number,
          vpcMode: o.vpcMode as 'hyperplane' | 'legacy' | undefined,
          durationMs: o.duration as number | undefined,
          repeat: o.repeat as number,
          json: o.json === true,
          html: o.html as string | undefined,
          progress: o.progress !== false,
        });
      } catch (err) {
        console.error(`lambkin simulate: ${(err as Error).message}`);
        process.exitCode = 2;
      }
    });

  program
    .command('advise')
    .description('recommend a MemorySize: simulated cold starts, latency and cost by memory and VPC mode for your traffic')
    .argument('<function-or-spec>', 'a workload spec (.yaml, .yml or .json) with the function, or a function name on --endpoint')
    .option('--function <name>', 'which function of a spec with several')
    .option('--endpoint <url>', 'measure the function by invoking it at each memory size on this running lambkin')
    .addOption(new Option('--region <region>').env('AWS_REGION').default('us-east-1'))
    .addOption(new Option('--invocations <n>', 'invocations per memory size when measuring').default(10).argParser(int('--invocations')))
    .addOption(new Option('--rate <per-second>', "Poisson traffic (default: the spec's arrivals, else 1/s)").argParser(positive('--rate')))
    .addOption(new Option('--memory <list>', 'candidate MemorySizes (default 128,256,512,1024,1536,1769,2048,3008,4096,6144,8192,10240)').argParser(memoryList))
    .addOption(new Option('--optimize <goal>', 'what to recommend for').choices(['latency-p99', 'mean', 'cost', 'balanced']).default('balanced'))
    .addOption(new Option('--duration <duration>', 'simulated time per candidate (default 1h)').argParser(duration))
    .option('--keep-alive <policy>', 'fixed (default), fixed:10m, hybrid, ...')
    .option('--latency-profile <profile>', 'none, aws-2019 (default) or a profile .json')
    .addOption(new Option('--seed <n>', 'seed of every random draw').default(1).argParser(int('--seed')))
    .option('--json', 'print JSON instead of tables')
    .option('--html <file>', 'also write the curves as a self-contained HTML report')
    .option('--no-progress', 'no progress bar')
    .action(async (target: string, o: Record<string, unknown>) => {
      const { AdviseInterrupted, runAdviseCommand } = await import('./advise-command.js');
      // Ctrl-C while measuring must not leave the function at a test MemorySize: the first signal aborts
      // the measurement (which then restores the original size); a second one exits at once.
      const abort = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (abort.signal.aborted) process.exit(130);
        console.error(`lambkin advise: ${sig}: stopping, the original MemorySize is restored first (${sig} again to quit at once)`);
        abort.abort();
      };
      // Only a measurement changes anything on the endpoint; otherwise signals keep their default.
      const measuring = o.endpoint !== undefined;
      if (measuring) {
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      }
      try {
        await runAdviseCommand({
          signal: abort.signal,
          target,
          functionName: o.function as string | undefined,
          endpoint: o.endpoint as string | undefined,
          region: o.region as string,
          invocations: o.invocations as number,
          ...(o.rate !== undefined ? { ratePerSec: o.rate as number } : {}),
          candidates: o.memory as number[] | undefined,
          optimize: o.optimize as 'latency-p99' | 'mean' | 'cost' | 'balanced',
          durationMs: o.duration as number | undefined,
          keepAlive: o.keepAlive as string | undefined,
          profile: o.latencyProfile as string | undefined,
          seed: o.seed as number,
          json: o.json === true,
          html: o.html as string | undefined,
          progress: o.progress !== false,
        });
      } catch (err) {
        console.error(`lambkin advise: ${(err as Error).message}`);
        process.exitCode = err instanceof AdviseInterrupted ? 130 : 2;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
