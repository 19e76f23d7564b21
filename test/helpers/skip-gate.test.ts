/**
 * The skip gate: its decision (allow-list parsing, matching, strict or not), the real allow-list
 * against the real skip messages (machine properties pass, missing tools never do), and the reporter
 * run by node's test runner on a small test file (exit code, and its lines before node's summary).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { cgroupsUnavailable, detectCapabilities, namespacesUnavailable, type HostCapabilities } from '../../src/fleet/isolation/capabilities.js';
import { allowingEntry, describeVerdict, isStrict, judgeSkips, parseAllowList, skipMessage, type SkippedTest } from './skip-gate.js';
import { pythonMissing } from './tools.js';

const ALLOW_LIST = fileURLToPath(new URL('../../../test/skip-allow-list.json', import.meta.url));
const REPORTER = fileURLToPath(new URL('./skip-gate-reporter.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const skipped = (message: string, name = 'a test'): SkippedTest => ({ name, file: 'dist/test/x.test.js', message });

describe('skip gate: the decision', () => {
  const list = parseAllowList({
    allow: [
      { skip: '^cgroup v[12] lacks the [a-z]+ controller$', reason: 'the host' },
      { skip: '^no freezer$', test: 'frozen', reason: 'only for the freeze tests' },
    ],
  });

  test('an entry allows a skip whose whole message it matches; `test` narrows it to matching names', () => {
    assert.equal(allowingEntry(skipped('cgroup v1 lacks the memory controller'), list), list[0]);
    assert.equal(allowingEntry(skipped('no perl on PATH; cgroup v1 lacks the memory controller'), list), undefined);
    assert.equal(allowingEntry(skipped('no freezer', 'sandbox is frozen between invocations'), list), list[1]);
    assert.equal(allowingEntry(skipped('no freezer', 'limits'), list), undefined, 'the message alone is not enough when the entry names tests');
  });

  test('a bare skip (no message) is never allowed', () => {
    assert.equal(skipMessage(true), '');
    assert.equal(skipMessage('why'), 'why');
    assert.equal(allowingEntry(skipped(''), parseAllowList({ allow: [{ skip: '.+', reason: 'r' }] })), undefined);
    assert.throws(() => parseAllowList({ allow: [{ skip: '^x?$', reason: 'r' }] }), /matches the empty message/);
  });

  test('strict runs fail on an unlisted skip; local runs only report it', () => {
    const skips = [skipped('cgroup v2 lacks the cpu controller'), skipped('the AWS CLI (aws) is not on PATH (Debian: awscli)')];
    const strict = judgeSkips(skips, list, true);
    assert.deepEqual(strict.allowed.map((a) => a.skipped.message), ['cgroup v2 lacks the cpu controller']);
    assert.deepEqual(strict.unlisted.map((s) => s.message), ['the AWS CLI (aws) is not on PATH (Debian: awscli)']);
    assert.equal(strict.fails, true);
    assert.equal(judgeSkips(skips, list, false).fails, false);
    assert.equal(judgeSkips(skips.slice(0, 1), list, true).fails, false, 'allowed skips alone pass');
    assert.equal(judgeSkips([], list, true).fails, false);
  });

  test('CI=true (or any value but empty, 0, false) makes the run strict', () => {
    assert.equal(isStrict({ CI: 'true' }), true);
    assert.equal(isStrict({ CI: '1' }), true);
    assert.equal(isStrict({ CI: 'woodpecker' }), true);
    for (const CI of [undefined, '', '0', 'false', 'FALSE']) assert.equal(isStrict({ CI }), false, String(CI));
  });

  test('the allow-list file is checked: an array of entries, each with a pattern and a reason, nothing else', () => {
    assert.throws(() => parseAllowList({}), /"allow" array/);
    assert.throws(() => parseAllowList({ allow: [{ skip: 'x' }] }), /reason/);
    assert.throws(() => parseAllowList({ allow: [{ skip: '', reason: 'r' }] }), /non-empty/);
    assert.throws(() => parseAllowList({ allow: [{ skip: '.*', reason: 'r' }] }), /matches the empty message/);
    assert.throws(() => parseAllowList({ allow: [{ skip: 'x', reason: 'r', test: '' }] }), /test must be/);
    assert.throws(() => parseAllowList({ allow: [{ skip: 'x', reason: 'r', tests: 'y' }] }), /unknown keys: tests/);
    assert.throws(() => parseAllowList({ allow: [{ skip: '(', reason: 'r' }] }), SyntaxError);
  });

  test('the printed lines name each skip, its file and message, and why it is allowed', () => {
    const v = judgeSkips([skipped('cgroup v2 lacks the cpu controller', 'limits'), skipped('', 'bare')], list, true);
    const lines = describeVerdict(v, true, 'test/skip-allow-list.json');
    assert.deepEqual(lines, [
      'ℹ skip gate: 1 skipped for a property of this machine (allowed by test/skip-allow-list.json):',
      'ℹ   ﹣ limits (dist/test/x.test.js): cgroup v2 lacks the cpu controller',
      'ℹ       allowed because: the host',
      '✖ skip gate: 1 skipped for a reason not on test/skip-allow-list.json; this fails the run (CI):',
      '✖   ﹣ bare (dist/test/x.test.js): (no reason given)',
    ]);
    assert.match(describeVerdict(v, false, 'l').join('\n'), /a CI run \(CI=true\) fails on these/);
    assert.deepEqual(describeVerdict(judgeSkips([], list, true), true, 'l'), ['ℹ skip gate: no test was skipped']);
  });
});

describe("skip gate: the project's allow-list", () => {
  const list = parseAllowList(JSON.parse(readFileSync(ALLOW_LIST, 'utf8')));
  const caps = detectCapabilities();
  const host: HostCapabilities = {
    ...caps,
    platform: 'linux',
    arch: 'x64',
    uid: 0,
    root: true,
    cgroup: { ...caps.cgroup, version: 1, controllers: ['memory', 'cpu', 'pids'] },
    namespaces: { pid: true, mount: true, net: true, user: true },
    tools: { ...caps.tools, perl: '/usr/bin/perl' },
  };
  const allowed = (message: string | undefined) => {
    assert.ok(message, 'the capability check gives a reason');
    return allowingEntry(skipped(message), list) !== undefined;
  };

  test('is short, and every entry says why', () => {
    assert.ok(list.length <= 6, `${list.length} entries`);
    for (const e of list) assert.ok(e.reason.length > 20, e.reason);
  });

  test('allows the machine properties the isolation checks report, bare or inside "full isolation is not available here"', () => {
    const noMemory = cgroupsUnavailable({ ...host, cgroup: { ...host.cgroup, controllers: ['cpu', 'pids'] } });
    const noCpuPids = cgroupsUnavailable({ ...host, cgroup: { ...host.cgroup, version: 2, controllers: ['memory'] } });
    const noUserNs = namespacesUnavailable({ ...host, namespaces: { ...host.namespaces, user: false } });
    assert.equal(allowed(noMemory), true, noMemory);
    assert.equal(allowed(noCpuPids), true, noCpuPids);
    assert.equal(allowed(noUserNs), true, noUserNs);
    assert.equal(allowed(`full isolation is not available here: ${noUserNs ?? ''}`), true);
    assert.equal(allowed('no v1 freezer hierarchy'), true);
    assert.equal(allowed('the kernel has no ext4'), true);
    assert.equal(allowed('no /dev/loop-control (loop module missing, or a container without it)'), true);
    assert.equal(allowed('the kernel offers no network namespaces'), true);
  });

  test('never allows a missing tool, a missing root or another platform: CI installs the tools and runs as root on Linux', () => {
    const noPerl = cgroupsUnavailable({ ...host, tools: { ...host.tools, perl: undefined } });
    const notRoot = cgroupsUnavailable({ ...host, uid: 1000, root: false });
    const notLinux = cgroupsUnavailable({ ...host, platform: 'darwin' });
    const noCgroupFs = cgroupsUnavailable({ ...host, cgroup: { ...host.cgroup, version: undefined } });
    for (const message of [
      noPerl,
      `full isolation is not available here: ${noPerl ?? ''}`,
      notRoot,
      notLinux,
      noCgroupFs,
      namespacesUnavailable({ ...host, arch: 's390x' }),
      pythonMissing(['boto3'], ['python3-boto3']),
      pythonMissing(['aws_xray_sdk'], ['python3-aws-xray-sdk']),
      'the AWS CLI (aws) is not on PATH (Debian: awscli)',
      'zip is not installed (the README example zips the function with it; Debian: zip)',
      'no C compiler (cc) to build the LD_PRELOAD / LD_AUDIT payloads',
      'no losetup (util-linux)',
      'no mkfs.ext4 (e2fsprogs)',
      'no unshare',
      'needs unshare and ip',
      'curl is not installed',
      'python3 is not installed',
      'needs root to chown',
    ]) {
      assert.equal(allowed(message), false, message);
    }
  });
});

describe('skip gate: the reporter under node --test', () => {
  const run = (file: string, env: Record<string, string>) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      // NODE_TEST_CONTEXT would make the inner runner talk to this one instead of printing.
      const { CI: _ci, NODE_TEST_CONTEXT: _context, ...rest } = process.env;
      execFile(process.execPath, ['--test', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', file], { cwd: ROOT, env: { ...rest, ...env }, timeout: 60_000 }, (err, stdout) => {
        resolve({ code: typeof err?.code === 'number' ? err.code : err ? 1 : 0, out: stdout });
      });
    });
  /** Runs a test file of one passing and one skipped test through the reporter. */
  const runFixture = async (skip: string, env: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'lambkin-skip-gate-'));
    try {
      const file = join(dir, 'fixture.test.mjs');
      writeFileSync(file, `import { test } from 'node:test';\ntest('runs', () => {});\ntest('skips', { skip: ${JSON.stringify(skip)} }, () => {});\n`);
      return await run(file, env);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test('CI=true: a skip for a missing tool fails the run; the spec output and summary stay, the gate comes just before the summary', async () => {
    const { code, out } = await runFixture('the AWS CLI (aws) is not on PATH (Debian: awscli)', { CI: 'true' });
    assert.equal(code, 1, out);
    assert.match(out, /✔ runs/);
    assert.match(out, /✖ skip gate: 1 skipped for a reason not on test\/skip-allow-list\.json; this fails the run \(CI\):\n✖ {3}﹣ skips \(.*fixture\.test\.mjs\): the AWS CLI \(aws\) is not on PATH \(Debian: awscli\)\nℹ tests 2\n/);
    assert.match(out, /ℹ pass 1\nℹ fail 0\nℹ cancelled 0\nℹ skipped 1\nℹ todo 0\nℹ duration_ms [\d.]+\n$/);
  });

  test('CI=true: an allow-listed skip passes and is printed with its reason', async () => {
    const { code, out } = await runFixture('the kernel has no ext4', { CI: 'true' });
    assert.equal(code, 0, out);
    assert.match(out, /ℹ skip gate: 1 skipped for a property of this machine .*\nℹ {3}﹣ skips .*: the kernel has no ext4\nℹ {7}allowed because: .+\nℹ tests 2\n/);
  });

  test('without CI the unlisted skip is reported and the run passes', async () => {
    const { code, out } = await runFixture('curl is not installed', {});
    assert.equal(code, 0, out);
    assert.match(out, /✖ skip gate: 1 skipped for a reason not on .*; a CI run \(CI=true\) fails on these:/);
  });
});
