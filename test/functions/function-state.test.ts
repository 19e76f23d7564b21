import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { VersionRow } from '../../src/functions/function-schema.js';
import { assertUpdatable, reconfigured, runnableRow, withLastUpdateStatus, withState, COMPLETED_UPDATE } from '../../src/functions/function-state.js';
import { rejectsAwsError } from '../helpers/aws-error.js';

const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:f';

function row(extra: Partial<VersionRow> = {}): VersionRow {
  return {
    account: '123456789012',
    region: 'us-east-1',
    name: 'f',
    version: '$LATEST',
    version_num: 0,
    runtime: 'nodejs20.x',
    role: 'arn:aws:iam::123456789012:role/lambda',
    handler: 'index.handler',
    description: '',
    timeout: 3,
    memory_size: 128,
    ephemeral_storage: 512,
    architectures: '["x86_64"]',
    package_type: 'Zip',
    environment: null,
    vpc_config: '{"subnetIds":["subnet-89abcdef"],"securityGroupIds":["sg-89abcdef"]}',
    tracing_mode: 'PassThrough',
    code_sha256: 'code-1',
    code_size: 10,
    last_modified: '2019-07-31T06:40:18.123+0000',
    revision_id: 'rev-1',
    config_id: 'config-1',
    state: 'Active',
    state_reason: null,
    state_reason_code: null,
    ...COMPLETED_UPDATE,
    published_as: null,
    ...extra,
  };
}

/** `latest` changed to a new VpcConfig and timeout, as UpdateFunctionConfiguration writes it before the state. */
function changed(latest: VersionRow): VersionRow {
  return { ...latest, vpc_config: '{"subnetIds":["subnet-01234567"],"securityGroupIds":["sg-89abcdef"]}', timeout: 7, revision_id: 'rev-2', config_id: 'config-2', ...COMPLETED_UPDATE };
}

const UPDATING = { state: 'Active', lastUpdate: { status: 'InProgress', reason: 'The function is being created.', reasonCode: 'Creating' } } as const;

void describe('function state machine', () => {
  void test('changes are refused while Pending or while an update is in progress, allowed otherwise', async () => {
    assertUpdatable(row(), ARN);
    assertUpdatable(row({ state: 'Failed' }), ARN);
    assertUpdatable(row({ last_update_status: 'Failed' }), ARN);
    await rejectsAwsError(
      () => assertUpdatable(row({ state: 'Pending', state_reason: 'The function is being created.' }), ARN),
      'functionNotReady',
      'The operation cannot be performed at this time. The function is currently in the following state: Pending (The function is being created.)',
    );
    await rejectsAwsError(
      () => assertUpdatable(row({ last_update_status: 'InProgress' }), ARN),
      'updateInProgress',
      `The operation cannot be performed at this time. An update is in progress for resource: ${ARN}`,
    );
  });

  void test('withState sets the State and its reasons, clearing reasons not given', () => {
    const pending = withState(row(), { state: 'Pending', reason: 'r', reasonCode: 'Creating' });
    assert.deepEqual([pending.state, pending.state_reason, pending.state_reason_code], ['Pending', 'r', 'Creating']);
    const active = withState(pending, { state: 'Active' });
    assert.deepEqual([active.state, active.state_reason, active.state_reason_code], ['Active', null, null]);
    assert.equal(active.config_id, 'config-1', 'a state change is no change of configuration');
  });

  void test('a reconfiguration that completes at once: the new State, nothing kept', () => {
    const latest = row();
    const next = reconfigured(latest, changed(latest), { state: 'Pending', reason: 'creating' });
    assert.deepEqual([next.state, next.state_reason, next.last_update_status, next.previous_config], ['Pending', 'creating', 'Successful', null]);
    assert.equal(runnableRow(next), next);
  });

  void test('an update in progress keeps the previous configuration runnable, with the current State', () => {
    const latest = row();
    const next = reconfigured(latest, changed(latest), UPDATING);
    assert.deepEqual([next.last_update_status, next.last_update_status_reason, next.last_update_status_reason_code], ['InProgress', 'The function is being created.', 'Creating']);
    assert.equal(next.timeout, 7);
    const runs = runnableRow(withState(next, { state: 'Failed', reason: 'x' }));
    assert.deepEqual([runs.timeout, runs.vpc_config, runs.config_id, runs.revision_id], [3, latest.vpc_config, 'config-1', 'rev-1']);
    assert.deepEqual([runs.state, runs.last_update_status], ['Failed', 'InProgress'], 'State and status are the current ones');

    // Successful: invocations run the current configuration.
    const done = withLastUpdateStatus(next, { status: 'Successful' });
    assert.deepEqual([done.last_update_status, done.last_update_status_reason, done.previous_config], ['Successful', null, null]);
    assert.equal(runnableRow(done).timeout, 7);
  });

  void test('after a failed update, the configuration from before it keeps running through a retry', () => {
    const latest = row();
    const failed = withLastUpdateStatus(reconfigured(latest, changed(latest), UPDATING), { status: 'Failed', reason: 'no ENI', reasonCode: 'InternalError' });
    assert.deepEqual([failed.last_update_status, failed.last_update_status_reason_code], ['Failed', 'InternalError']);
    assert.equal(runnableRow(failed).config_id, 'config-1');
    const retried = reconfigured(failed, { ...changed(failed), config_id: 'config-3' }, UPDATING);
    assert.equal(runnableRow(retried).config_id, 'config-1', 'still what ran before the failed update');
    assert.equal(retried.config_id, 'config-3');
  });

  void test('an update answered Successful right away keeps nothing', () => {
    const latest = row();
    const next = reconfigured(latest, changed(latest), { state: 'Active', lastUpdate: { status: 'Successful' } });
    assert.deepEqual([next.last_update_status, next.previous_config], ['Successful', null]);
  });
});
