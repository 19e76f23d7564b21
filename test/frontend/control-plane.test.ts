/**
 * Every control-plane operation of issue 2 through the real AWS SDK against a real lambkin:
 * functions, code download, paging, updates, versions, aliases, account settings, and the
 * fields AWS reports (RevisionId, LastModified, CodeSha256, CodeSize, State, LastUpdateStatus).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  CreateAliasCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  GetAccountSettingsCommand,
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListAliasesCommand,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { makeZip } from '../helpers/zip.js';
import { createFn, json, rejectsAws, serverGroup } from '../helpers/lambda.js';

const LAST_MODIFIED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ARN = 'arn:aws:lambda:us-east-1:000000000000:function';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('base64');
/** A function that answers with a fixed tag, so tests can tell code versions apart. */
const tagZip = (tag: string) => makeZip({ 'index.js': `exports.handler = async () => (${JSON.stringify(tag)});\n` });

void test(
  'control plane through the AWS SDK',
  serverGroup({}, async (t, { lambda, client }) => {
    await t.test('CreateFunction returns the configuration AWS reports', async () => {
      const zip = tagZip('one');
      const c = await createFn(lambda, 'cp-create', zip, { Description: 'first', MemorySize: 256, Timeout: 7 });
      assert.equal(c.FunctionName, 'cp-create');
      assert.equal(c.FunctionArn, `${ARN}:cp-create`);
      assert.equal(c.Runtime, 'nodejs20.x');
      assert.equal(c.Handler, 'index.handler');
      assert.equal(c.Description, 'first');
      assert.equal(c.MemorySize, 256);
      assert.equal(c.Timeout, 7);
      assert.equal(c.Version, '$LATEST');
      assert.equal(c.CodeSize, zip.length);
      assert.equal(c.CodeSha256, sha(zip));
      assert.match(c.LastModified ?? '', LAST_MODIFIED);
      assert.match(c.RevisionId ?? '', UUID);
      assert.equal(c.State, 'Active');
      assert.equal(c.LastUpdateStatus, 'Successful');
      assert.equal(c.PackageType, 'Zip');
      assert.deepEqual(c.TracingConfig, { Mode: 'PassThrough' });
    });

    await t.test('GetFunction: Code.Location downloads the uploaded zip byte for byte', async () => {
      const zip = tagZip('download');
      await createFn(lambda, 'cp-get', zip);
      const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'cp-get' }));
      assert.equal(got.Configuration?.CodeSha256, sha(zip));
      assert.equal(got.Code?.RepositoryType, 'S3');
      const res = await fetch(got.Code?.Location ?? '');
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), zip);
      const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cp-get' }));
      assert.deepEqual({ ...cfg, $metadata: undefined }, { ...got.Configuration, $metadata: undefined });
    });

    await t.test('ListFunctions pages with Marker/MaxItems in name order', async () => {
      const names = ['cp-list-a', 'cp-list-b', 'cp-list-c', 'cp-list-d', 'cp-list-e'];
      for (const n of names) await createFn(lambda, n, tagZip(n));
      const seen: string[] = [];
      let marker: string | undefined;
      let pages = 0;
      do {
        const page = await lambda.send(new ListFunctionsCommand({ MaxItems: 2, ...(marker ? { Marker: marker } : {}) }));
        assert.ok((page.Functions ?? []).length <= 2);
        seen.push(...(page.Functions ?? []).map((f) => f.FunctionName ?? ''));
        marker = page.NextMarker;
        pages++;
        assert.ok(pages < 50, 'paging does not end');
      } while (marker);
      assert.deepEqual(seen, [...seen].sort(), 'listed in name order');
      assert.equal(new Set(seen).size, seen.length, 'no function listed twice');
      for (const n of names) assert.ok(seen.includes(n), `${n} listed`);
      assert.ok(pages >= 3);
    });

    await t.test('UpdateFunctionCode changes CodeSha256, CodeSize, RevisionId; the new code runs', async () => {
      const before = await createFn(lambda, 'cp-code', tagZip('old'));
      assert.equal(json((await lambda.send(new InvokeCommand({ FunctionName: 'cp-code' }))).Payload), 'old');
      const zip = makeZip({ 'index.js': 'exports.handler = async () => "new";\n', 'extra.txt': 'x'.repeat(100) });
      const after = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'cp-code', ZipFile: zip }));
      assert.equal(after.CodeSha256, sha(zip));
      assert.equal(after.CodeSize, zip.length);
      assert.notEqual(after.RevisionId, before.RevisionId);
      assert.ok((after.LastModified ?? '') >= (before.LastModified ?? ''));
      assert.equal(after.LastUpdateStatus, 'Successful');
      assert.equal(json((await lambda.send(new InvokeCommand({ FunctionName: 'cp-code' }))).Payload), 'new');
    });

    await t.test('UpdateFunctionConfiguration stores and returns every field', async () => {
      const before = await createFn(lambda, 'cp-config', makeZip({ 'index.js': 'exports.handler = async () => 1;', 'other.js': 'exports.run = async () => 2;' }));
      const vpc = { SubnetIds: ['subnet-0123456789abcdef0'], SecurityGroupIds: ['sg-0123456789abcdef0'] };
      const out = await lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName: 'cp-config',
          Handler: 'other.run',
          Runtime: 'nodejs18.x',
          MemorySize: 512,
          Timeout: 30,
          Environment: { Variables: { GREETING: 'hi', MODE: 'test' } },
          Description: 'configured',
          VpcConfig: vpc,
          TracingConfig: { Mode: 'Active' },
        }),
      );
      assert.notEqual(out.RevisionId, before.RevisionId);
      const got = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cp-config' }));
      for (const c of [out, got]) {
        assert.equal(c.Handler, 'other.run');
        assert.equal(c.Runtime, 'nodejs18.x');
        assert.equal(c.MemorySize, 512);
        assert.equal(c.Timeout, 30);
        assert.deepEqual(c.Environment?.Variables, { GREETING: 'hi', MODE: 'test' });
        assert.equal(c.Description, 'configured');
        assert.deepEqual(c.VpcConfig?.SubnetIds, vpc.SubnetIds);
        assert.deepEqual(c.VpcConfig?.SecurityGroupIds, vpc.SecurityGroupIds);
        assert.match(c.VpcConfig?.VpcId ?? '', /^vpc-[0-9a-f]+$/);
        assert.deepEqual(c.TracingConfig, { Mode: 'Active' });
        assert.equal(c.CodeSha256, before.CodeSha256, 'code unchanged');
      }
      assert.equal(got.RevisionId, out.RevisionId);
      // A stale RevisionId is refused as on AWS.
      await rejectsAws(
        lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'cp-config', Description: 'x', RevisionId: before.RevisionId })),
        'PreconditionFailedException',
        412,
      );
    });

    await t.test('PublishVersion, ListVersionsByFunction, invoke by version (X-Amz-Executed-Version)', async () => {
      const v1Zip = tagZip('v1'); // (makeZip stamps the time: keep the bytes we uploaded)
      await createFn(lambda, 'cp-ver', v1Zip);
      const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-ver', Description: 'first' }));
      assert.equal(v1.Version, '1');
      assert.equal(v1.FunctionArn, `${ARN}:cp-ver:1`);
      assert.equal(v1.Description, 'first');
      // Publishing an unchanged $LATEST returns the existing version.
      assert.equal((await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-ver' }))).Version, '1');
      await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'cp-ver', ZipFile: tagZip('v2') }));
      const v2 = await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-ver' }));
      assert.equal(v2.Version, '2');
      await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'cp-ver', ZipFile: tagZip('latest') }));

      const list = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'cp-ver' }));
      assert.deepEqual(list.Versions?.map((v) => v.Version), ['$LATEST', '1', '2']);
      assert.equal(list.Versions?.[0]?.FunctionArn, `${ARN}:cp-ver:$LATEST`);
      const paged = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'cp-ver', MaxItems: 2 }));
      assert.equal(paged.Versions?.length, 2);
      const rest = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'cp-ver', Marker: paged.NextMarker }));
      assert.deepEqual(rest.Versions?.map((v) => v.Version), ['2']);

      for (const [q, want] of [['1', 'v1'], ['2', 'v2'], ['$LATEST', 'latest']] as const) {
        const out = await lambda.send(new InvokeCommand({ FunctionName: 'cp-ver', Qualifier: q }));
        assert.equal(json(out.Payload), want);
        assert.equal(out.ExecutedVersion, q);
      }
      const byArn = await lambda.send(new InvokeCommand({ FunctionName: `${ARN}:cp-ver:1` }));
      assert.equal(json(byArn.Payload), 'v1');
      assert.equal(byArn.ExecutedVersion, '1');
      const cfg1 = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cp-ver', Qualifier: '1' }));
      assert.equal(cfg1.Version, '1');
      assert.equal(cfg1.CodeSha256, sha(v1Zip));
    });

    await t.test('aliases: create, get, list, update, invoke by alias, delete', async () => {
      await createFn(lambda, 'cp-alias', tagZip('a1'));
      await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-alias' }));
      await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'cp-alias', ZipFile: tagZip('a2') }));
      await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-alias' }));

      const created = await lambda.send(new CreateAliasCommand({ FunctionName: 'cp-alias', Name: 'live', FunctionVersion: '1', Description: 'prod' }));
      assert.equal(created.AliasArn, `${ARN}:cp-alias:live`);
      assert.equal(created.FunctionVersion, '1');
      assert.match(created.RevisionId ?? '', UUID);
      await rejectsAws(lambda.send(new CreateAliasCommand({ FunctionName: 'cp-alias', Name: 'live', FunctionVersion: '2' })), 'ResourceConflictException', 409);
      await lambda.send(new CreateAliasCommand({ FunctionName: 'cp-alias', Name: 'beta', FunctionVersion: '2' }));

      const got = await lambda.send(new GetAliasCommand({ FunctionName: 'cp-alias', Name: 'live' }));
      assert.equal(got.Description, 'prod');
      const listed = await lambda.send(new ListAliasesCommand({ FunctionName: 'cp-alias' }));
      assert.deepEqual(listed.Aliases?.map((a) => a.Name).sort(), ['beta', 'live']);

      let out = await lambda.send(new InvokeCommand({ FunctionName: 'cp-alias', Qualifier: 'live' }));
      assert.equal(json(out.Payload), 'a1');
      assert.equal(out.ExecutedVersion, '1');
      out = await lambda.send(new InvokeCommand({ FunctionName: 'cp-alias:beta' }));
      assert.equal(json(out.Payload), 'a2');
      assert.equal(out.ExecutedVersion, '2');
      // GetFunctionConfiguration through an alias shows the version it points at.
      assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cp-alias', Qualifier: 'live' }))).Version, '1');

      const updated = await lambda.send(new UpdateAliasCommand({ FunctionName: 'cp-alias', Name: 'live', FunctionVersion: '2', RevisionId: got.RevisionId }));
      assert.equal(updated.FunctionVersion, '2');
      assert.notEqual(updated.RevisionId, got.RevisionId);
      out = await lambda.send(new InvokeCommand({ FunctionName: 'cp-alias', Qualifier: 'live' }));
      assert.equal(out.ExecutedVersion, '2');
      await rejectsAws(
        lambda.send(new UpdateAliasCommand({ FunctionName: 'cp-alias', Name: 'live', FunctionVersion: '1', RevisionId: got.RevisionId })),
        'PreconditionFailedException',
        412,
      );

      // A version an alias points at cannot be deleted.
      await rejectsAws(lambda.send(new DeleteFunctionCommand({ FunctionName: 'cp-alias', Qualifier: '2' })), 'ResourceConflictException', 409);
      await lambda.send(new DeleteAliasCommand({ FunctionName: 'cp-alias', Name: 'beta' }));
      await rejectsAws(lambda.send(new GetAliasCommand({ FunctionName: 'cp-alias', Name: 'beta' })), 'ResourceNotFoundException', 404);
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'cp-alias', Qualifier: 'beta' })), 'ResourceNotFoundException', 404);
      assert.deepEqual((await lambda.send(new ListAliasesCommand({ FunctionName: 'cp-alias' }))).Aliases?.map((a) => a.Name), ['live']);
    });

    await t.test('DeleteFunction: one version, then the whole function', async () => {
      await createFn(lambda, 'cp-del', tagZip('d1'));
      await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-del' }));
      await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'cp-del', ZipFile: tagZip('d2') }));
      await lambda.send(new PublishVersionCommand({ FunctionName: 'cp-del' }));
      await lambda.send(new DeleteFunctionCommand({ FunctionName: 'cp-del', Qualifier: '1' }));
      assert.deepEqual((await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'cp-del' }))).Versions?.map((v) => v.Version), ['$LATEST', '2']);
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'cp-del', Qualifier: '1' })), 'ResourceNotFoundException', 404);
      assert.equal(json((await lambda.send(new InvokeCommand({ FunctionName: 'cp-del', Qualifier: '2' }))).Payload), 'd2');
      await rejectsAws(lambda.send(new DeleteFunctionCommand({ FunctionName: 'cp-del', Qualifier: '$LATEST' })), 'InvalidParameterValueException', 400);

      await lambda.send(new DeleteFunctionCommand({ FunctionName: 'cp-del' }));
      await rejectsAws(lambda.send(new GetFunctionCommand({ FunctionName: 'cp-del' })), 'ResourceNotFoundException', 404);
      await rejectsAws(lambda.send(new InvokeCommand({ FunctionName: 'cp-del', Qualifier: '2' })), 'ResourceNotFoundException', 404);
      await rejectsAws(lambda.send(new DeleteFunctionCommand({ FunctionName: 'cp-del' })), 'ResourceNotFoundException', 404);
      const names = (await lambda.send(new ListFunctionsCommand({ MaxItems: 1000 }))).Functions?.map((f) => f.FunctionName);
      assert.ok(!names?.includes('cp-del'));
      // The name is free again.
      await createFn(lambda, 'cp-del', tagZip('again'));
      assert.deepEqual((await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'cp-del' }))).Versions?.map((v) => v.Version), ['$LATEST']);
    });

    await t.test('partial and full ARNs are accepted as FunctionName; another region is not found', async () => {
      await createFn(lambda, 'cp-arn', tagZip('arn'));
      for (const name of ['000000000000:function:cp-arn', `${ARN}:cp-arn`, `${ARN}:cp-arn:$LATEST`]) {
        assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))).FunctionName, 'cp-arn', name);
        assert.equal(json((await lambda.send(new InvokeCommand({ FunctionName: name }))).Payload), 'arn', name);
      }
      await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: `${ARN}:cp-arn`, Description: 'via arn' }));
      assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'cp-arn' }))).Description, 'via arn');
      await rejectsAws(
        lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:cp-arn' })),
        'ResourceNotFoundException',
        404,
      );
      await rejectsAws(
        lambda.send(new InvokeCommand({ FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:cp-arn' })),
        'ResourceNotFoundException',
        404,
      );
    });

    await t.test('regions and accounts come from the credentials: a function is not visible elsewhere', async () => {
      const eu = client('AKIDEXAMPLE', 'eu-west-1');
      const acct = client('123456789012');
      {
        await rejectsAws(eu.send(new GetFunctionCommand({ FunctionName: 'cp-arn' })), 'ResourceNotFoundException', 404);
        const c = await createFn(eu, 'cp-arn', tagZip('eu'));
        assert.equal(c.FunctionArn, 'arn:aws:lambda:eu-west-1:000000000000:function:cp-arn');
        assert.equal(json((await eu.send(new InvokeCommand({ FunctionName: c.FunctionArn }))).Payload), 'eu');
        assert.equal(json((await lambda.send(new InvokeCommand({ FunctionName: 'cp-arn' }))).Payload), 'arn');
        const a = await createFn(acct, 'cp-acct', tagZip('acct'));
        assert.equal(a.FunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:cp-acct');
        await rejectsAws(lambda.send(new GetFunctionCommand({ FunctionName: 'cp-acct' })), 'ResourceNotFoundException', 404);
      }
    });

    await t.test('GetAccountSettings reports Lambda quotas and this account\'s usage', async () => {
      const s = await lambda.send(new GetAccountSettingsCommand({}));
      assert.equal(s.AccountLimit?.CodeSizeZipped, 52_428_800);
      assert.equal(s.AccountLimit?.CodeSizeUnzipped, 262_144_000);
      assert.equal(s.AccountLimit?.ConcurrentExecutions, 1000);
      const fns = (await lambda.send(new ListFunctionsCommand({ MaxItems: 1000 }))).Functions ?? [];
      assert.equal(s.AccountUsage?.FunctionCount, fns.length);
      assert.ok((s.AccountUsage?.TotalCodeSize ?? 0) >= fns.reduce((n, f) => n + (f.CodeSize ?? 0), 0));
    });
  }),
);
