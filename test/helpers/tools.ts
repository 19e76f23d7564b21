/**
 * Finding the outside tools some suites drive (the AWS CLI, a Python with boto3 or the X-Ray SDK).
 * `.ci/run` installs each one from Debian when it is missing and looks for it the same way, so on CI
 * these lookups always succeed; a test that still cannot find its tool skips, and a skip for a missing
 * tool fails a CI run (test/skip-allow-list.json lists machine properties only, never a tool).
 */
import { works } from './lambda.js';

/**
 * The Python interpreters tried, in order: `python3` on PATH (a pyenv or venv the developer chose),
 * then Debian's `/usr/bin/python3` (where `.ci/run` installs python3-boto3 and python3-aws-xray-sdk).
 * `.ci/run` checks the same list in the same order.
 */
export const PYTHON_CANDIDATES: readonly string[] = ['python3', '/usr/bin/python3'];

/**
 * A check (Python source) that passes only with a boto3 that reads `AWS_ENDPOINT_URL_<SERVICE>` from
 * the environment, as a function in a lambkin sandbox relies on (boto3 of late 2023 on; Debian 12's
 * python3-boto3 1.26 is older and still calls amazonaws.com).
 */
export const BOTO3_READS_ENDPOINT_ENV = [
  'import os, boto3',
  "os.environ['AWS_ENDPOINT_URL_LAMBDA'] = 'http://127.0.0.1:9'",
  "c = boto3.client('lambda', region_name='us-east-1', aws_access_key_id='a', aws_secret_access_key='b')",
  "assert c.meta.endpoint_url == 'http://127.0.0.1:9', c.meta.endpoint_url",
].join('\n');

const found = new Map<string, string | undefined>();

/** The first of PYTHON_CANDIDATES on which `code` exits 0, or undefined. */
export function pythonWhere(code: string): string | undefined {
  if (!found.has(code)) found.set(code, PYTHON_CANDIDATES.find((python) => works(python, ['-c', code])));
  return found.get(code);
}

/** The first of PYTHON_CANDIDATES that imports every module (e.g. `boto3`), or undefined. */
export function pythonWith(...modules: string[]): string | undefined {
  return pythonWhere(modules.length > 0 ? modules.map((m) => `import ${m}`).join('; ') : 'pass');
}

/** The skip reason when no candidate imports the modules: names the modules and what installs them. */
export function pythonMissing(modules: readonly string[], debianPackages: readonly string[]): string {
  return `no python3 imports ${modules.join(', ')} (tried ${PYTHON_CANDIDATES.join(', ')}; Debian: ${debianPackages.join(' ')})`;
}
