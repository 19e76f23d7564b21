import { Command, Option } from 'commander';
import { duration, int, positive } from './duration.js';
import { addSimulatorCommands } from './simulator-commands.js';

const program = new Command('lambkin')
  .description('A self-hosted, AWS-Lambda-compatible serverless platform')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the Lambda (and X-Ray) API and the sandboxes behind it')
  .addOption(new Option('--host <host>', 'interface to listen on').default('127.0.0.1'))
  .addOption(new Option('--port <port>', 'TCP port (0: any free port)').env('LAMBKIN_PORT').default(4590).argParser(int('--port')))
  .addOption(new Option('--data-dir <dir>', 'where functions, code and logs live').env('LAMBKIN_DATA_DIR').default('.lambkin'))
  .addOption(new Option('--region <region>', 'region for requests without a SigV4 scope').default('us-east-1'))
  .addOption(new Option('--keep-alive <duration>', 'idle sandboxes stop after this long (e.g. 10m, 30s)').default(600_000, '10m').argParser(duration))
  .addOption(new Option('--worker-memory-mb <mb>', 'memory capacity of one worker').default(3072).argParser(int('--worker-memory-mb')))
  .addOption(new Option('--host-memory-mb <mb>', 'budget of configured MemorySize on this host (default: 75% of RAM)').argParser(int('--host-memory-mb')))
  .addOption(new Option('--worker-idle <duration>', 'an empty worker is retired after this long').default(300_000, '5m').argParser(duration))
  .addOption(new Option('--account-concurrency <n>', 'concurrent executions per account').default(1000).argParser(int('--account-concurrency')))
  .addOption(new Option('--vpc-mode <mode>', 'ENI model for VPC functions').choices(['hyperplane', 'legacy']).default('hyperplane'))
  .addOption(
    new Option('--latency-profile <profile>', 'delays for steps with no local counterpart: none, aws-2019 or a profile .json file').default('none'),
  )
  .addOption(new Option('--time-scale <f>', 'multiplies every profile delay (0.1: the 10 s ENI takes 1 s)').default(1).argParser(positive('--time-scale')))
  .addOption(new Option('--seed <n>', 'seed of the profile\'s random draws').default(1).argParser(int('--seed')))
  .addOption(
    new Option(
      '--keep-alive-policy <policy>',
      "fixed (uses --keep-alive), fixed:10m, hybrid or hybrid:key=value,... (Serverless in the Wild's hybrid histogram policy)",
    ).default('fixed'),
  )
  .addOption(
    new Option('--isolation <level>', 'sandbox isolation (auto: the strongest this machine supports)')
      .choices(['auto', 'none', 'cgroups', 'namespaces'])
      .default('auto'),
  )
  .addOption(
    new Option('--sandbox-network <mode>', 'what a sealed sandbox reaches besides lambkin: none, or nat (the internet, never the host or private networks)')
      .choices(['none', 'nat'])
      .default('none'),
  )
  .addOption(
    new Option('--auth <mode>', 'any: any credentials (issued keys are still verified); strict: requests must be signed with a key from `lambkin credentials create`')
      .choices(['any', 'strict'])
      .default('any'),
  )
  .option('--trace-all', 'trace every invocation, as if every function had TracingConfig Active')
  .addOption(new Option('--trace-retention <duration>', 'delete traces older than this').default(30 * 86_400_000, '30d').argParser(duration))
  .action(async (o: Record<string, unknown>) => {
    const { startLambkin } = await import('./lambkin.js');
    const server = await startLambkin({
      host: o.host as string,
      port: o.port as number,
      dataDir: o.dataDir as string,
      defaultRegion: o.region as string,
      keepAliveMs: o.keepAlive as number,
      workerMemoryMb: o.workerMemoryMb as number,
      ...(o.hostMemoryMb !== undefined ? { hostMemoryMb: o.hostMemoryMb as number } : {}),
      workerIdleMs: o.workerIdle as number,
      accountConcurrency: o.accountConcurrency as number,
      vpcMode: o.vpcMode as 'hyperplane' | 'legacy',
      latencyProfile: o.latencyProfile as string,
      timeScale: o.timeScale as number,
      seed: o.seed as number,
      traceAll: o.traceAll === true,
      isolation: o.isolation as 'auto' | 'none' | 'cgroups' | 'namespaces',
      sandboxNetwork: o.sandboxNetwork as 'none' | 'nat',
      keepAlivePolicy: o.keepAlivePolicy as string,
      traceRetentionMs: o.traceRetention as number,
      auth: o.auth as 'any' | 'strict',
      log: (line) => console.error(line),
    });
    console.log(`lambkin listening on ${server.url}  (data: ${server.options.dataDir})`);
    let stopping = false;
    const stop = () => {
      if (stopping) {
        server.abort();
        return;
      }
      stopping = true;
      console.error('lambkin: stopping (again to force)…');
      void server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(`lambkin: could not stop cleanly: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

program
  .command('logs')
  .description("show a function's logs (START/END/REPORT and everything it printed)")
  .argument('<function>', 'function name')
  .addOption(new Option('--data-dir <dir>', 'the server\'s data dir').env('LAMBKIN_DATA_DIR').default('.lambkin'))
  .addOption(new Option('--region <region>').env('AWS_REGION').default('us-east-1'))
  .addOption(new Option('--account <id>', 'account id (the 12-digit access key id used)').default('000000000000'))
  .option('-f, --follow', 'keep printing new lines')
  .action(async (name: string, o: { dataDir: string; region: string; account: string; follow?: boolean }) => {
    const { showLogs } = await import('./logs-command.js');
    await showLogs({ dataDir: o.dataDir, region: o.region, account: o.account, functionName: name, follow: o.follow ?? false });
  });

program
  .command('fleet')
  .description('show the fleet of a running lambkin: hosts, workers, sandboxes and ENIs')
  .addOption(new Option('--endpoint <url>', 'the lambkin server').env('LAMBKIN_ENDPOINT').default('http://127.0.0.1:4590'))
  .action(async (o: { endpoint: string }) => {
    const { showFleet } = await import('./fleet-command.js');
    // Signed when credentials are in the environment (a `--auth strict` server requires it).
    const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken, AWS_REGION: region } = process.env;
    process.exitCode = await showFleet({
      endpoint: o.endpoint,
      out: (s) => process.stdout.write(s),
      err: (s) => process.stderr.write(s),
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
      ...(region ? { region } : {}),
    });
  });

const credentials = program.command('credentials').description('access keys lambkin issues for callers on this host (verified with SigV4)');
const dataDirOption = () => new Option('--data-dir <dir>', "the server's data dir").env('LAMBKIN_DATA_DIR').default('.lambkin');
const io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) };
credentials
  .command('create')
  .description('issue a new access key for an account; prints AccessKeyId and SecretAccessKey (shown only once)')
  .requiredOption('--account <id>', '12-digit account id the key acts as')
  .addOption(dataDirOption())
  .option('--json', "print AWS's CreateAccessKey shape")
  .action(async (o: { account: string; dataDir: string; json?: boolean }) => {
    const { createCredentials } = await import('./credentials-command.js');
    process.exitCode = createCredentials({ ...io, dataDir: o.dataDir, account: o.account, json: o.json === true });
  });
credentials
  .command('list')
  .description('list issued access keys (never their secrets)')
  .option('--account <id>', 'only this account\'s keys')
  .addOption(dataDirOption())
  .action(async (o: { account?: string; dataDir: string }) => {
    const { listCredentials } = await import('./credentials-command.js');
    process.exitCode = listCredentials({ ...io, dataDir: o.dataDir, ...(o.account !== undefined ? { account: o.account } : {}) });
  });
credentials
  .command('delete')
  .description('delete an access key: requests signed with it are refused from now on')
  .argument('<access-key-id>')
  .addOption(dataDirOption())
  .action(async (accessKeyId: string, o: { dataDir: string }) => {
    const { deleteCredentials } = await import('./credentials-command.js');
    process.exitCode = deleteCredentials({ ...io, dataDir: o.dataDir, accessKeyId });
  });

program
  .command('doctor')
  .description('what this machine supports for sandbox isolation, and what lambkin will enforce')
  .action(async () => {
    const { runDoctor } = await import('./doctor-command.js');
    runDoctor((l) => console.log(l));
  });

const experiment = program.command('experiment').description("reproduce published cold-start studies");
experiment
  .command('seed')
  .description("the seed's six verifications: create ten functions, invoke each once, delete them, read X-Ray durations")
  .option('--endpoint <url>', 'measure this endpoint (a lambkin, or https://lambda.REGION.amazonaws.com); default: an embedded lambkin')
  .addOption(new Option('--region <region>', 'region of the functions').env('AWS_REGION').default('us-east-1'))
  .option('--cases <list>', 'which cases to run', '1,2,3,4,5,6')
  .addOption(new Option('--repeat <n>', 'runs of ten per case').default(1).argParser(int('--repeat')))
  .option('--out <dir>', 'where report.json and report.html go', 'lambkin-experiment')
  .option('--runtime <runtime>', "the functions' runtime (the seed used nodejs8.10, which AWS no longer accepts)", 'nodejs22.x')
  .option('--role <arn>', 'execution role for the functions (real AWS needs a real one)', 'arn:aws:iam::000000000000:role/lambkin-experiment')
  .option('--subnet-ids <ids>', 'comma-separated subnets for the VPC cases', 'subnet-0123456789abcdef0')
  .option('--security-group-ids <ids>', 'comma-separated security groups for the VPC cases', 'sg-0123456789abcdef0')
  .addOption(new Option('--time-scale <f>', 'embedded lambkin: multiplies the aws-2019 profile delays').default(0.1).argParser(positive('--time-scale')))
  .addOption(new Option('--seed <n>', "embedded lambkin: seed of the profile's random draws").default(1).argParser(int('--seed')))
  .addOption(new Option('--trace-wait <duration>', 'how long to wait for traces to become searchable').default(120_000, '2m').argParser(duration))
  .option('--no-progress', 'no progress bar')
  .action(async (o: Record<string, unknown>) => {
    const { runExperimentCommand } = await import('./experiment-command.js');
    const abort = new AbortController();
    process.once('SIGINT', () => {
      console.error('lambkin: interrupted; deleting the functions this run created…');
      abort.abort(new Error('interrupted'));
    });
    await runExperimentCommand({
      ...(o.endpoint !== undefined ? { endpoint: o.endpoint as string } : {}),
      region: o.region as string,
      cases: o.cases as string,
      repeat: o.repeat as number,
      out: o.out as string,
      runtime: o.runtime as string,
      role: o.role as string,
      subnetIds: (o.subnetIds as string).split(',').filter(Boolean),
      securityGroupIds: (o.securityGroupIds as string).split(',').filter(Boolean),
      timeScale: o.timeScale as number,
      seed: o.seed as number,
      traceWaitMs: o.traceWait as number,
      progress: o.progress !== false && process.stderr.isTTY === true,
      signal: abort.signal,
    });
  });

addSimulatorCommands(program);

await program.parseAsync(process.argv);
