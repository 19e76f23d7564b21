import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsError } from '../../src/errors/catalogue.js';
import { CodeStore } from '../../src/functions/code-store.js';
import type { ChangeEvent } from '../../src/functions/change-events.js';
import { vpcIdFor, type CreateFunctionInput } from '../../src/functions/function-version.js';
import { FunctionRegistry, type RegistryOptions } from '../../src/functions/registry.js';
import { toAliasConfiguration, toFunctionConfiguration } from '../../src/frontend/lambda-shapes.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { VirtualClock } from '../../src/util/clock.js';
import { rejectsAwsError } from '../helpers/aws-error.js';
import { buildZip } from '../helpers/zip.js';

const base = mkdtempSync(path.join(tmpdir(), 'lambkin-registry-'));
after(() => rmSync(base, { recursive: true, force: true }));

const caller = { account: '123456789012', region: 'us-east-1' };
const other = { account: '210987654321', region: 'us-east-1' };
const ROLE = 'arn:aws:iam::123456789012:role/lambda';
const ARN = 'arn:aws:lambda:us-east-1:123456789012:function';
const SUBNET_A = 'subnet-0123456789abcdef0';
const SUBNET_B = 'subnet-89abcdef';
const SG = 'sg-0123456789abcdef0';

interface Env {
  dir: string;
  db: Database;
  code: CodeStore;
  reg: FunctionRegistry;
  events: ChangeEvent[];
  clock: VirtualClock;
  /** Closes and reopens DB, store and registry on the same files (a restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

let envs = 0;
async function setup(opts: Partial<RegistryOptions> = {}): Promise<Env> {
  const dir = path.join(base, `e${++envs}`);
  const clock = new VirtualClock(Date.parse('2019-07-31T06:40:18.123Z'));
  let uuidN = 0;
  const make = () => {
    const db = openDatabase(path.join(dir, 'lambkin.db'));
    const code = new CodeStore(dir);
    const reg = new FunctionRegistry({
      db,
      code,
      clock,
      uuid: () => `00000000-0000-4000-8000-${String(++uuidN).padStart(12, '0')}`,
      ...opts,
    });
    return { db, code, reg };
  };
  const events: ChangeEvent[] = [];
  const env: Env = {
    dir,
    ...make(),
    events,
    clock,
    async restart() {
      await env.reg.close();
      env.db.close();
      Object.assign(env, make());
      env.reg.onChange((e) => events.push(e));
    },
    async close() {
      await env.reg.close();
      env.db.close();
    },
  };
  env.reg.onChange((e) => events.push(e));
  return env;
}

const zipA = buildZip({ 'index.js': 'exports.handler = async () => "a";' });
const zipB = buildZip({ 'index.js': 'exports.handler = async () => "b";' });
const zipC = buildZip({ 'index.js': 'exports.handler = async () => "c";' });
const sha = (z: Buffer) => createHash('sha256').update(z).digest('base64');
const hex = (z: Buffer) => createHash('sha256').update(z).digest('hex');

function input(name: string, extra: Partial<CreateFunctionInput> = {}): CreateFunctionInput {
  return { functionName: name, runtime: 'nodejs20.x', handler: 'index.handler', role: ROLE, code: zipA, ...extra };
}

/** Names under <dir>/code (to prove failures leave no stray directories). */
function codeListing(env: Env): string[] {
  return readdirSync(path.join(env.dir, 'code')).sort();
}

/** Everything observable about the registry's state, for before/after comparisons. */
function snapshot(env: Env, ...names: string[]) {
  return {
    all: env.reg.listAll(),
    aliases: names.flatMap((n) => {
      try {
        return env.reg.listAliases(caller, n).aliases;
      } catch {
        return [];
      }
    }),
    code: codeListing(env),
  };
}


void describe('FunctionRegistry', () => {
  void test('create: defaults, AWS shapes, code extracted', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    const v = await env.reg.create(caller, input('hello', { description: 'greets' }));
    assert.equal(v.functionArn, `${ARN}:hello`);
    assert.equal(v.qualifiedArn, `${ARN}:hello:$LATEST`);
    assert.equal(v.version, '$LATEST');
    assert.equal(v.codeSha256, sha(zipA));
    assert.equal(v.codeDir, path.join(env.dir, 'code', hex(zipA)));
    assert.match(readFileSync(path.join(v.codeDir, 'index.js'), 'utf8'), /"a"/);
    assert.deepEqual(toFunctionConfiguration(v), {
      FunctionName: 'hello',
      FunctionArn: `${ARN}:hello`,
      Runtime: 'nodejs20.x',
      Role: ROLE,
      Handler: 'index.handler',
      CodeSize: zipA.length,
      Description: 'greets',
      Timeout: 3,
      MemorySize: 128,
      LastModified: '2019-07-31T06:40:18.123+0000',
      CodeSha256: sha(zipA),
      Version: '$LATEST',
      TracingConfig: { Mode: 'PassThrough' },
      RevisionId: '00000000-0000-4000-8000-000000000001',
      State: 'Active',
      LastUpdateStatus: 'Successful',
      PackageType: 'Zip',
      Architectures: ['x86_64'],
      EphemeralStorage: { Size: 512 },
    });
    assert.equal(toFunctionConfiguration(v, { qualifyLatest: true }).FunctionArn, `${ARN}:hello:$LATEST`);
    assert.deepEqual(env.reg.get(caller, { name: 'hello' }), v);
    assert.deepEqual(env.reg.get(caller, { name: 'hello', qualifier: '$LATEST' }), v);
    assert.deepEqual(env.events, [{ kind: 'created', caller, name: 'hello', version: '$LATEST' }]);
  });

  void test('create with everything set, and Publish', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    const v = await env.reg.create(
      caller,
      input('full', {
        memorySize: 1024,
        timeout: 30,
        environment: { STAGE: 'prod' },
        vpcConfig: { subnetIds: [SUBNET_A, SUBNET_B], securityGroupIds: [SG] },
        tracingMode: 'Active',
        ephemeralStorageMb: 1024,
        architectures: ['arm64'],
        publish: true,
      }),
    );
    assert.equal(v.version, '1');
    assert.equal(v.functionArn, `${ARN}:full:1`);
    const c = toFunctionConfiguration(v);
    assert.deepEqual(c.VpcConfig, { SubnetIds: [SUBNET_A, SUBNET_B], SecurityGroupIds: [SG], VpcId: vpcIdFor([SUBNET_A, SUBNET_B]) });
    assert.match(vpcIdFor([SUBNET_A, SUBNET_B]), /^vpc-[0-9a-f]{17}$/);
    assert.equal(vpcIdFor([SUBNET_B, SUBNET_A]), vpcIdFor([SUBNET_A, SUBNET_B]));
    assert.deepEqual(c.Environment, { Variables: { STAGE: 'prod' } });
    assert.deepEqual(c.TracingConfig, { Mode: 'Active' });
    assert.deepEqual(c.EphemeralStorage, { Size: 1024 });
    assert.deepEqual(c.Architectures, ['arm64']);
    assert.equal(c.MemorySize, 1024);
    assert.equal(c.Timeout, 30);
    assert.deepEqual(
      env.reg.listVersions(caller, 'full').versions.map((x) => x.version),
      ['$LATEST', '1'],
    );
    assert.deepEqual(
      env.events.map((e) => `${e.kind}:${e.version}`),
      ['created:$LATEST', 'created:1'],
    );
  });

  void test('bad inputs to create: exact error, nothing written', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    await env.reg.create(caller, input('keep'));
    const before = snapshot(env, 'keep');
    const cases: [Partial<CreateFunctionInput> & { functionName?: string }, string, string | RegExp][] = [
      [{ functionName: 'keep', code: zipB }, 'functionExists', 'Function already exist: keep'],
      [{ runtime: 'cobol1' }, 'invalidRuntime', /^Value cobol1 at 'runtime'/],
      [{ runtime: 'java21' }, 'invalidParameter', /java21 is not supported by lambkin/],
      [{ code: Buffer.from('not a zip') }, 'badZip', /^Could not unzip uploaded file/],
      [{ code: buildZip({ '../evil.js': 'x' }) }, 'zipEntryOutsideFolder', /'\.\.\/evil\.js'/],
      [{ vpcConfig: { subnetIds: ['subnet-xyz'], securityGroupIds: [SG] } }, 'invalidParameter', /InvalidSubnetID\.Malformed.*"subnet-xyz"/],
      [{ vpcConfig: { subnetIds: [SUBNET_A], securityGroupIds: ['group1'] } }, 'invalidParameter', /InvalidGroupId\.Malformed/],
      [{ vpcConfig: { subnetIds: [SUBNET_A], securityGroupIds: [] } }, 'invalidParameter', /both SubnetIds and SecurityGroupIds/],
      [{ environment: { AWS_REGION: 'x' } }, 'invalidParameter', /Reserved keys used in this request: AWS_REGION$/],
      [{ environment: { '1BAD': 'x' } }, 'validation', /at 'environment\.variables'/],
      [{ environment: { K: 'x' } }, 'validation', /Value 'K' at 'environment\.variables'/], // AWS wants 2+ characters
      [{ environment: { BIG: 'x'.repeat(5000) } }, 'invalidParameter', /exceeded the 4KB limit/],
    ];
    for (const [patch, code, message] of cases) {
      await rejectsAwsError(env.reg.create(caller, input('new-one', patch)), code, message);
      assert.deepEqual(snapshot(env, 'keep'), before, `after ${code}`);
      assert.deepEqual(env.reg.list(caller).functions.map((f) => f.functionName), ['keep']);
    }
    assert.deepEqual(env.events.map((e) => e.kind), ['created']);
  });

  void test('a create that loses a race in its transaction leaves no code behind', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    // Both pass the pre-check, both extract; the second transaction finds the name taken.
    const zips = [zipA, zipB];
    const results = await Promise.allSettled(zips.map((code) => env.reg.create(caller, input('race', { code }))));
    // Whichever extraction finishes first wins; the other must fail cleanly.
    const won = results.findIndex((r) => r.status === 'fulfilled');
    assert.ok(won >= 0, 'one create succeeds');
    const lost = results[1 - won];
    assert.ok(lost?.status === 'rejected' && lost.reason instanceof AwsError && lost.reason.code === 'functionExists');
    const winner = zips[won] as Buffer;
    await env.reg.collectGarbage();
    assert.deepEqual(codeListing(env), [hex(winner), `${hex(winner)}.zip`]);
    assert.equal(env.reg.get(caller, { name: 'race' }).codeSha256, sha(winner));
  });

  void test('not found errors print the ARN AWS would', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    await env.reg.create(caller, input('f'));
    await rejectsAwsError(() => env.reg.get(caller, { name: 'nope' }), 'functionNotFound', `Function not found: ${ARN}:nope`);
    await rejectsAwsError(() => env.reg.get(caller, { name: 'f', qualifier: '9' }), 'functionNotFound', `Function not found: ${ARN}:f:9`);
    await rejectsAwsError(() => env.reg.get(caller, { name: 'f', qualifier: 'live' }), 'functionNotFound', `Function not found: ${ARN}:f:live`);
    await rejectsAwsError(() => env.reg.get(caller, { name: 'nope', qualifier: 'live' }), 'functionNotFound', `Function not found: ${ARN}:nope`);
    await rejectsAwsError(() => env.reg.getAlias(caller, 'f', 'live'), 'aliasNotFound', `Cannot find alias arn: ${ARN}:f:live`);
    // Accounts and regions are separate namespaces.
    await rejectsAwsError(
      () => env.reg.get(other, { name: 'f' }),
      'functionNotFound',
      'Function not found: arn:aws:lambda:us-east-1:210987654321:function:f',
    );
    await rejectsAwsError(() => env.reg.get({ ...caller, region: 'eu-west-1' }, { name: 'f' }), 'functionNotFound', /eu-west-1/);
    await env.reg.create(other, input('f'));
    assert.equal(env.reg.get(other, { name: 'f' }).functionArn, 'arn:aws:lambda:us-east-1:210987654321:function:f');
    assert.equal(env.reg.list(caller).functions.length, 1);
  });

  void test('updateCode: new code and revision, published versions untouched, RevisionId checked', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    const v0 = await env.reg.create(caller, input('f', { publish: true }));
    const latest0 = env.reg.get(caller, { name: 'f' });
    env.clock.advance(env.clock.now() + 60_000);
    await rejectsAwsError(env.reg.updateCode(caller, 'f', { code: zipB, revisionId: 'stale' }), 'revisionMismatch');
    assert.deepEqual(env.reg.get(caller, { name: 'f' }), latest0);
    assert.deepEqual(codeListing(env), [hex(zipA), `${hex(zipA)}.zip`]);
    await rejectsAwsError(env.reg.updateCode(caller, 'nope', { code: zipB }), 'functionNotFound', `Function not found: ${ARN}:nope`);
    await rejectsAwsError(env.reg.updateCode(caller, 'f', { code: Buffer.from('zip?') }), 'badZip');
    assert.deepEqual(env.reg.get(caller, { name: 'f' }), latest0);

    const v1 = await env.reg.updateCode(caller, 'f', { code: zipB, revisionId: latest0.revisionId });
    assert.equal(v1.codeSha256, sha(zipB));
    assert.notEqual(v1.revisionId, latest0.revisionId);
    assert.notEqual(v1.versionKey, latest0.versionKey);
    assert.equal(v1.lastModified, '2019-07-31T06:41:18.123+0000');
    assert.match(readFileSync(path.join(v1.codeDir, 'index.js'), 'utf8'), /"b"/);
    assert.deepEqual(env.reg.get(caller, { name: 'f', qualifier: '1' }), v0);

    const v2 = await env.reg.updateCode(caller, 'f', { code: zipC, publish: true });
    assert.equal(v2.version, '2');
    assert.equal(v2.codeSha256, sha(zipC));
    assert.deepEqual(
      env.events.map((e) => `${e.kind}:${e.version}`),
      ['created:$LATEST', 'created:1', 'updated:$LATEST', 'updated:$LATEST', 'created:2'],
    );
    // zipB is referenced by no version any more.
    assert.deepEqual(await env.reg.collectGarbage(), [sha(zipB)]);
    assert.equal(existsSync(path.join(env.dir, 'code', hex(zipB))), false);
  });

  void test('updateConfiguration: patching, Environment replaced whole, VPC removal, RevisionId', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    await env.reg.create(
      caller,
      input('f', { environment: { AA: '1', BB: '2' }, vpcConfig: { subnetIds: [SUBNET_A], securityGroupIds: [SG] } }),
    );
    const before = env.reg.get(caller, { name: 'f' });
    await rejectsAwsError(() => env.reg.updateConfiguration(caller, 'f', { timeout: 10 }, 'stale'), 'revisionMismatch');
    await rejectsAwsError(() => env.reg.updateConfiguration(caller, 'f', { runtime: 'ruby3.3' }), 'invalidParameter');
    await rejectsAwsError(() => env.reg.updateConfiguration(caller, 'f', { environment: { AWS_SESSION_TOKEN: 'x' } }), 'invalidParameter');
    assert.deepEqual(env.reg.get(caller, { name: 'f' }), before);

    const v = env.reg.updateConfiguration(caller, 'f', { environment: { CC: '3' }, memorySize: 512, description: 'd' }, before.revisionId);
    assert.deepEqual(v.environment, { CC: '3' });
    assert.equal(v.memorySize, 512);
    assert.equal(v.description, 'd');
    assert.equal(v.timeout, 3);
    assert.equal(v.codeSha256, before.codeSha256);
    assert.notEqual(v.versionKey, before.versionKey);
    assert.deepEqual(v.vpcConfig?.subnetIds, [SUBNET_A]);

    const w = env.reg.updateConfiguration(caller, 'f', { vpcConfig: { subnetIds: [], securityGroupIds: [] }, environment: {} });
    assert.equal(w.vpcConfig, undefined);
    assert.equal(w.environment, undefined);
    assert.equal('VpcConfig' in toFunctionConfiguration(w), false);
    assert.equal('Environment' in toFunctionConfiguration(w), false);
    await rejectsAwsError(() => env.reg.updateConfiguration(caller, 'nope', {}), 'functionNotFound');
  });

  void test('publishVersion: dedupe while unchanged, CodeSha256 and RevisionId checks, numbers never reused', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    await env.reg.create(caller, input('f'));
    const v1 = env.reg.publishVersion(caller, 'f', { description: 'first' });
    assert.equal(v1.version, '1');
    assert.equal(v1.description, 'first');
    assert.equal(v1.functionArn, `${ARN}:f:1`);
    assert.deepEqual(env.reg.publishVersion(caller, 'f'), v1, 'unchanged $LATEST returns the last version');
    await rejectsAwsError(
      () => env.reg.publishVersion(caller, 'f', { codeSha256: 'AAAA' }),
      'invalidParameter',
      `CodeSHA256 (AAAA) is different from current CodeSHA256 in $LATEST (${sha(zipA)}). Please try again with the current CodeSHA256.`,
    );
    await rejectsAwsError(() => env.reg.publishVersion(caller, 'f', { revisionId: 'stale' }), 'revisionMismatch');
    env.reg.updateConfiguration(caller, 'f', { timeout: 9 });
    const latest = env.reg.get(caller, { name: 'f' });
    const v2 = env.reg.publishVersion(caller, 'f', { codeSha256: sha(zipA), revisionId: latest.revisionId });
    assert.equal(v2.version, '2');
    assert.equal(v2.timeout, 9);
    assert.equal(env.reg.get(caller, { name: 'f', qualifier: '1' }).timeout, 3);
    env.reg.delete(caller, { name: 'f', qualifier: '2' });
    // $LATEST is unchanged but its version is gone: a new number is taken, never 2 again.
    const v3 = env.reg.publishVersion(caller, 'f');
    assert.equal(v3.version, '3');
    assert.deepEqual(
      env.reg.listVersions(caller, 'f').versions.map((x) => x.version),
      ['$LATEST', '1', '3'],
    );
    await rejectsAwsError(() => env.reg.publishVersion(caller, 'nope'), 'functionNotFound');
  });

  void test('aliases: create, get, list, update (RevisionId), weighted resolve, delete', async (t) => {
    const rolls: number[] = [];
    const env = await setup({ random: () => rolls.shift() ?? 0.5 });
    t.after(() => env.close());
    await env.reg.create(caller, input('f', { publish: true }));
    await env.reg.updateCode(caller, 'f', { code: zipB, publish: true });
    const live = env.reg.createAlias(caller, 'f', { name: 'live', functionVersion: '1', description: 'prod' });
    assert.deepEqual(toAliasConfiguration(live), {
      AliasArn: `${ARN}:f:live`,
      Name: 'live',
      FunctionVersion: '1',
      Description: 'prod',
      RevisionId: live.revisionId,
    });
    assert.deepEqual(env.reg.getAlias(caller, 'f', 'live'), live);
    assert.equal(env.reg.get(caller, { name: 'f', qualifier: 'live' }).version, '1');

    await rejectsAwsError(() => env.reg.createAlias(caller, 'f', { name: 'live', functionVersion: '2' }), 'aliasExists', `Alias already exists: ${ARN}:f:live`);
    await rejectsAwsError(() => env.reg.createAlias(caller, 'f', { name: 'x', functionVersion: '7' }), 'functionNotFound', `Function not found: ${ARN}:f:7`);
    await rejectsAwsError(() => env.reg.createAlias(caller, 'f', { name: '42', functionVersion: '1' }), 'validation');
    await rejectsAwsError(() => env.reg.createAlias(caller, 'nope', { name: 'x', functionVersion: '1' }), 'functionNotFound', `Function not found: ${ARN}:nope`);
    await rejectsAwsError(
      () => env.reg.createAlias(caller, 'f', { name: 'x', functionVersion: '$LATEST', additionalVersionWeights: { '1': 0.5 } }),
      'invalidParameter',
      '$LATEST is not supported for an alias pointing to more than 1 version',
    );
    await rejectsAwsError(() => env.reg.createAlias(caller, 'f', { name: 'x', functionVersion: '1', additionalVersionWeights: { '1': 0.5 } }), 'invalidParameter');
    await rejectsAwsError(() => env.reg.createAlias(caller, 'f', { name: 'x', functionVersion: '1', additionalVersionWeights: { '9': 0.5 } }), 'functionNotFound');
    assert.deepEqual(env.reg.listAliases(caller, 'f').aliases.map((a) => a.name), ['live']);

    await rejectsAwsError(() => env.reg.updateAlias(caller, 'f', 'live', { functionVersion: '2', revisionId: 'stale' }), 'revisionMismatch');
    assert.deepEqual(env.reg.getAlias(caller, 'f', 'live'), live);
    const shifted = env.reg.updateAlias(caller, 'f', 'live', { additionalVersionWeights: { '2': 0.25 }, revisionId: live.revisionId });
    assert.notEqual(shifted.revisionId, live.revisionId);
    assert.deepEqual(toAliasConfiguration(shifted).RoutingConfig, { AdditionalVersionWeights: { '2': 0.25 } });

    rolls.push(0.1, 0.3, 0.24999, 0.9);
    const executed = [0, 1, 2, 3].map(() => env.reg.resolve(caller, { name: 'f', qualifier: 'live' }));
    assert.deepEqual(executed.map((r) => r.executedVersion), ['2', '1', '2', '1']);
    assert.ok(executed.every((r) => r.alias === 'live'));
    assert.deepEqual(env.reg.resolve(caller, { name: 'f' }).executedVersion, '$LATEST');
    assert.deepEqual(env.reg.resolve(caller, { name: 'f', qualifier: '1' }).alias, undefined);

    env.reg.createAlias(caller, 'f', { name: 'beta', functionVersion: '$LATEST' });
    env.reg.createAlias(caller, 'f', { name: 'old', functionVersion: '1' });
    assert.deepEqual(env.reg.listAliases(caller, 'f').aliases.map((a) => a.name), ['beta', 'live', 'old']);
    assert.deepEqual(env.reg.listAliases(caller, 'f', { functionVersion: '2' }).aliases.map((a) => a.name), ['live']);
    assert.deepEqual(env.reg.listAliases(caller, 'f', { functionVersion: '1' }).aliases.map((a) => a.name), ['live', 'old']);
    const p1 = env.reg.listAliases(caller, 'f', { maxItems: 2 });
    assert.deepEqual(p1.aliases.map((a) => a.name), ['beta', 'live']);
    assert.ok(p1.nextMarker);
    const p2 = env.reg.listAliases(caller, 'f', { maxItems: 2, marker: p1.nextMarker });
    assert.deepEqual(p2.aliases.map((a) => a.name), ['old']);
    assert.equal(p2.nextMarker, undefined);

    // A version an alias references (as primary or as routing target) cannot be deleted.
    const before = snapshot(env, 'f');
    await rejectsAwsError(
      () => env.reg.delete(caller, { name: 'f', qualifier: '1' }),
      'conflict',
      'Unable to delete version because the following aliases reference it: [live, old]',
    );
    await rejectsAwsError(() => env.reg.delete(caller, { name: 'f', qualifier: '2' }), 'conflict', /\[live\]/);
    assert.deepEqual(snapshot(env, 'f'), before);

    env.reg.deleteAlias(caller, 'f', 'old');
    env.reg.updateAlias(caller, 'f', 'live', { functionVersion: '2', additionalVersionWeights: {} });
    await rejectsAwsError(() => env.reg.deleteAlias(caller, 'f', 'old'), 'aliasNotFound');
    env.reg.delete(caller, { name: 'f', qualifier: '1' });
    assert.deepEqual(env.reg.listVersions(caller, 'f').versions.map((v) => v.version), ['$LATEST', '2']);
    assert.deepEqual(toAliasConfiguration(env.reg.getAlias(caller, 'f', 'live')).RoutingConfig, undefined);
  });

  void test('delete: whole function with its aliases; $LATEST alone is refused; code collected', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    await env.reg.create(caller, input('f', { publish: true }));
    await env.reg.create(caller, input('g')); // shares zipA
    env.reg.createAlias(caller, 'f', { name: 'live', functionVersion: '1' });
    await rejectsAwsError(
      () => env.reg.delete(caller, { name: 'f', qualifier: '$LATEST' }),
      'invalidParameter',
      '$LATEST version cannot be deleted without deleting the function.',
    );
    await rejectsAwsError(() => env.reg.delete(caller, { name: 'f', qualifier: 'live' }), 'invalidParameter', /DeleteAlias/);
    await rejectsAwsError(() => env.reg.delete(caller, { name: 'f', qualifier: '5' }), 'functionNotFound', `Function not found: ${ARN}:f:5`);
    await rejectsAwsError(() => env.reg.delete(caller, { name: 'nope' }), 'functionNotFound');
    env.events.length = 0;
    env.reg.delete(caller, { name: 'f' });
    assert.deepEqual(
      env.events.map((e) => `${e.kind}:${e.name}:${e.version}`),
      ['deleted:f:$LATEST', 'deleted:f:1'],
    );
    await rejectsAwsError(() => env.reg.get(caller, { name: 'f' }), 'functionNotFound');
    await rejectsAwsError(() => env.reg.listAliases(caller, 'f'), 'functionNotFound');
    assert.equal((env.db.prepare('SELECT count(*) AS c FROM aliases').get() as { c: number }).c, 0);
    assert.equal((env.db.prepare("SELECT count(*) AS c FROM function_versions WHERE name = 'f'").get() as { c: number }).c, 0);
    await env.reg.collectGarbage();
    assert.ok(env.reg.get(caller, { name: 'g' }).codeDir && existsSync(env.reg.get(caller, { name: 'g' }).codeDir), 'g still uses the code');
    env.reg.delete(caller, { name: 'g' });
    await env.reg.close();
    assert.deepEqual(codeListing(env), []);
    // A deleted name can be created again, numbering from 1.
    const again = await env.reg.create(caller, input('f', { code: zipB, publish: true }));
    assert.equal(again.version, '1');
  });

  void test('list: by name, paginated, optionally all versions', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    for (const n of ['delta', 'alpha', 'echo', 'charlie', 'bravo']) await env.reg.create(caller, input(n));
    env.reg.publishVersion(caller, 'bravo');
    await env.reg.create(other, input('zulu'));
    const names: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = env.reg.list(caller, { maxItems: 2, ...(marker ? { marker } : {}) });
      names.push(...page.functions.map((f) => f.functionName));
      marker = page.nextMarker;
      pages++;
    } while (marker);
    assert.deepEqual(names, ['alpha', 'bravo', 'charlie', 'delta', 'echo']);
    assert.equal(pages, 3);
    assert.deepEqual(
      env.reg.list(caller, { allVersions: true }).functions.map((f) => `${f.functionName}:${f.version}`),
      ['alpha:$LATEST', 'bravo:$LATEST', 'bravo:1', 'charlie:$LATEST', 'delta:$LATEST', 'echo:$LATEST'],
    );
    const p = env.reg.list(caller, { allVersions: true, maxItems: 2 });
    assert.deepEqual(
      env.reg.list(caller, { allVersions: true, maxItems: 2, marker: p.nextMarker }).functions.map((f) => `${f.functionName}:${f.version}`),
      ['bravo:1', 'charlie:$LATEST'],
    );
    await rejectsAwsError(() => env.reg.list(caller, { marker: 'garbage!' }), 'invalidParameter');
    assert.equal(env.reg.listAll().length, 7);
  });

  void test('State: Pending blocks updates until setState; state changes keep the versionKey', async (t) => {
    const env = await setup({
      initialState: (v) => (v.vpcConfig ? { state: 'Pending', reason: 'The function is being created.', reasonCode: 'Creating' } : { state: 'Active' }),
    });
    t.after(() => env.close());
    const v = await env.reg.create(caller, input('vpc', { vpcConfig: { subnetIds: [SUBNET_A], securityGroupIds: [SG] } }));
    assert.equal(v.state, 'Pending');
    const c = toFunctionConfiguration(v);
    assert.equal(c.StateReason, 'The function is being created.');
    assert.equal(c.StateReasonCode, 'Creating');
    await rejectsAwsError(
      () => env.reg.updateConfiguration(caller, 'vpc', { timeout: 5 }),
      'functionNotReady',
      'The operation cannot be performed at this time. The function is currently in the following state: Pending (The function is being created.)',
    );
    await rejectsAwsError(env.reg.updateCode(caller, 'vpc', { code: zipB }), 'functionNotReady');
    await rejectsAwsError(() => env.reg.publishVersion(caller, 'vpc'), 'functionNotReady');
    assert.deepEqual(codeListing(env), [hex(zipA), `${hex(zipA)}.zip`]);
    const active = env.reg.setState(caller, 'vpc', '$LATEST', 'Active');
    assert.equal(active.state, 'Active');
    assert.equal(active.stateReason, undefined);
    assert.equal(active.versionKey, v.versionKey);
    assert.equal(env.events.at(-1)?.kind, 'state');
    // Removing the VPC: back through initialState (Active without a VPC).
    assert.equal(env.reg.updateConfiguration(caller, 'vpc', { vpcConfig: null }).state, 'Active');
    await rejectsAwsError(() => env.reg.setState(caller, 'vpc', '4', 'Active'), 'functionNotFound', `Function not found: ${ARN}:vpc:4`);
  });

  void test('LastUpdateStatus InProgress: get shows the new configuration, resolve runs the previous one until Successful', async (t) => {
    const env = await setup({
      initialState: (v) =>
        v.vpcConfig && v.reason === 'update' && v.from === 'Active'
          ? { state: 'Active', lastUpdate: { status: 'InProgress', reason: 'The function is being created.', reasonCode: 'Creating' } }
          : { state: 'Active' },
    });
    t.after(() => env.close());
    const before = await env.reg.create(caller, input('upd', { vpcConfig: { subnetIds: [SUBNET_A], securityGroupIds: [SG] } }));
    const updated = env.reg.updateConfiguration(caller, 'upd', { vpcConfig: { subnetIds: [SUBNET_B], securityGroupIds: [SG] }, timeout: 7 });
    assert.equal(updated.state, 'Active');
    assert.equal(updated.lastUpdateStatus, 'InProgress');
    const c = toFunctionConfiguration(updated);
    assert.equal(c.LastUpdateStatusReason, 'The function is being created.');
    assert.equal(c.LastUpdateStatusReasonCode, 'Creating');
    const check = () => {
      assert.equal(env.reg.get(caller, { name: 'upd' }).timeout, 7);
      const runs = env.reg.resolve(caller, { name: 'upd' }).version;
      assert.deepEqual([runs.timeout, runs.vpcConfig?.subnetIds, runs.versionKey], [3, [SUBNET_A], before.versionKey]);
      assert.equal(runs.lastUpdateStatus, 'InProgress');
      assert.equal(env.reg.previousConfiguration(updated)?.versionKey, before.versionKey);
    };
    check();
    const busy = `The operation cannot be performed at this time. An update is in progress for resource: ${ARN}:upd`;
    await rejectsAwsError(() => env.reg.updateConfiguration(caller, 'upd', { timeout: 5 }), 'updateInProgress', busy);
    await rejectsAwsError(env.reg.updateCode(caller, 'upd', { code: zipB }), 'updateInProgress', busy);
    await rejectsAwsError(() => env.reg.publishVersion(caller, 'upd'), 'updateInProgress', busy);
    await env.restart();
    check();
    assert.ok(env.reg.referencedCode().has(before.codeSha256));

    // Failed keeps the previous configuration running and allows further updates.
    assert.equal(env.reg.setLastUpdateStatus(caller, 'upd', '$LATEST', 'Failed', 'no ENI', 'InternalError').lastUpdateStatus, 'Failed');
    assert.equal(env.reg.resolve(caller, { name: 'upd' }).version.versionKey, before.versionKey);
    const retried = env.reg.updateConfiguration(caller, 'upd', { vpcConfig: { subnetIds: [SUBNET_A, SUBNET_B], securityGroupIds: [SG] } });
    assert.equal(retried.lastUpdateStatus, 'InProgress');
    assert.equal(env.reg.resolve(caller, { name: 'upd' }).version.versionKey, before.versionKey, 'still what ran before the failed update');

    const done = env.reg.setLastUpdateStatus(caller, 'upd', '$LATEST', 'Successful');
    assert.equal(env.events.at(-1)?.kind, 'state');
    assert.equal(done.versionKey, retried.versionKey);
    assert.equal(done.lastUpdateStatusReason, undefined);
    assert.equal(toFunctionConfiguration(done).LastUpdateStatusReasonCode, undefined);
    assert.equal(env.reg.resolve(caller, { name: 'upd' }).version.versionKey, retried.versionKey);
    assert.equal(env.reg.previousConfiguration(done), undefined);
    assert.equal(env.reg.updateConfiguration(caller, 'upd', { timeout: 5 }).lastUpdateStatus, 'Successful');
  });

  void test('restart: everything survives closing and reopening the database', async (t) => {
    const env = await setup();
    t.after(() => env.close());
    await env.reg.create(caller, input('f', { environment: { KEY: 'v' }, vpcConfig: { subnetIds: [SUBNET_A], securityGroupIds: [SG] }, publish: true }));
    await env.reg.updateCode(caller, 'f', { code: zipB, publish: true });
    env.reg.updateConfiguration(caller, 'f', { memorySize: 256 });
    env.reg.createAlias(caller, 'f', { name: 'live', functionVersion: '1', additionalVersionWeights: { '2': 0.1 } });
    await env.reg.create(other, input('g'));
    const before = { all: env.reg.listAll(), aliases: env.reg.listAliases(caller, 'f') };
    await env.restart();
    assert.deepEqual({ all: env.reg.listAll(), aliases: env.reg.listAliases(caller, 'f') }, before);
    assert.ok(statSync(env.reg.get(caller, { name: 'f', qualifier: 'live' }).codeDir).isDirectory());
    // Publishing stays deduplicated and numbering continues after a restart.
    env.reg.updateConfiguration(caller, 'f', { timeout: 7 });
    assert.equal(env.reg.publishVersion(caller, 'f').version, '3');
    assert.equal(env.reg.publishVersion(caller, 'f').version, '3');
    await env.restart();
    assert.equal(env.reg.get(caller, { name: 'f', qualifier: '3' }).timeout, 7);
    assert.deepEqual(await env.reg.collectGarbage(), []);
  });

  void test('a throwing listener does not undo or fail the change', async (t) => {
    const errors: unknown[] = [];
    const env = await setup({ onListenerError: (e) => errors.push(e) });
    t.after(() => env.close());
    const off = env.reg.onChange(() => {
      throw new Error('listener bug');
    });
    await env.reg.create(caller, input('f'));
    assert.equal(errors.length, 1);
    off();
    env.reg.updateConfiguration(caller, 'f', { timeout: 4 });
    assert.equal(errors.length, 1);
    assert.equal(env.reg.get(caller, { name: 'f' }).timeout, 4);
  });
});
