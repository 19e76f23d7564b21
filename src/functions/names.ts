/**
 * Function names as the Lambda API accepts them (`FunctionName` in a path or body, plus an
 * optional `Qualifier`), and the ARNs lambkin prints.
 *
 * Accepted forms, each with an optional `:qualifier` (version number, `$LATEST` or alias):
 *   name                                          my-function
 *   partial ARN                                   123456789012:function:my-function
 *   full ARN                                      arn:aws:lambda:us-east-1:123456789012:function:my-function
 * AWS's own model pattern also lets the region / account / `function:` parts appear on their
 * own (e.g. `us-east-1:123456789012:function:f`); those parse the same way, missing parts being
 * the caller's.
 *
 * Everything that is not accepted raises an {@link AwsError} (never anything else), with the
 * message AWS gives for the same input.
 */
import { awsError, constraintMessage } from '../errors/catalogue.js';

/** Who is asking: the account and region from the request's SigV4 scope. */
export interface Caller {
  readonly account: string;
  readonly region: string;
  /** The verified principal's ARN (an issued key's), for AccessDenied messages; absent when unverified. */
  readonly principal?: string;
}

/** A parsed function reference: a plain function name and an optional qualifier. */
export interface FunctionRef {
  /** The function name, `[a-zA-Z0-9-_]+` (at most 64 characters). */
  readonly name: string;
  /** `$LATEST`, a version number, or an alias name; absent when none was given. */
  readonly qualifier?: string;
}

/** Maximum length of a plain function name. */
export const MAX_NAME_LENGTH = 64;
/** Maximum length of an alias name. */
export const MAX_ALIAS_LENGTH = 128;

/** AWS's model pattern for `FunctionName` (CreateFunction, UpdateFunctionCode, ...; max 140). */
export const FUNCTION_NAME_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
/** AWS's model pattern for `NamespacedFunctionName` (Invoke, GetFunction, ...; max 170). */
export const NAMESPACED_FUNCTION_NAME_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
/** AWS's model pattern for the `Qualifier` parameter (max 128). */
export const QUALIFIER_PATTERN = '(|[a-zA-Z0-9$_-]+)';
/** AWS's model pattern for an alias `Name` (max 128). */
export const ALIAS_PATTERN = '(?!^[0-9]+$)([a-zA-Z0-9-_]+)';
/** AWS's model pattern for a `FunctionVersion` (an alias target). */
export const VERSION_PATTERN = '(\\$LATEST|[0-9]+)';

// The same patterns as JS regexps, anchored, with capture groups we read. (`0-9-_` in a class is
// a literal '-' in AWS's Java regexps; spelled `0-9_-` here to mean the same in JS.)
const ARN_PARTS = String.raw`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(?:-gov)?-[a-z]+-\d:)?(\d{12}:)?(function:)?`;
const QUAL_PART = String.raw`(?::(\$LATEST|[a-zA-Z0-9_-]+))?$`;
const FUNCTION_NAME_RE = new RegExp(`${ARN_PARTS}([a-zA-Z0-9_-]+)${QUAL_PART}`);
const NAMESPACED_RE = new RegExp(`${ARN_PARTS}([a-zA-Z0-9_.-]+)${QUAL_PART}`);
const QUALIFIER_RE = /^[a-zA-Z0-9$_-]*$/;
const ALIAS_RE = /^(?![0-9]+$)[a-zA-Z0-9_-]+$/;
const VERSION_RE = /^[0-9]+$/;

/** How {@link parseFunctionName} reads a name: for whom, with which operation's rules. */
export interface ParseOptions {
  /** The caller; an ARN for another region or account does not resolve to the caller's functions. */
  readonly caller: Caller;
  /** The separate `Qualifier` parameter, if the operation has one and the request sent it. */
  readonly qualifier?: unknown;
  /**
   * Which model shape the operation uses: `namespaced` (Invoke, GetFunction,
   * GetFunctionConfiguration: max 170, dots allowed) or `plain` (everything else: max 140).
   * Default `namespaced`.
   */
  readonly shape?: 'namespaced' | 'plain';
  /**
   * Whether the operation accepts a qualifier at all. UpdateFunctionCode, PublishVersion,
   * CreateAlias and friends act on the function itself: a qualifier there is refused.
   * Default true.
   */
  readonly allowQualifier?: boolean;
  /** The member name used in validation messages (default `functionName`). */
  readonly member?: string;
}

/**
 * Parses a `FunctionName` (+ optional `Qualifier`) as the Lambda API does.
 * Throws `validation` (ValidationException) for malformed input, `invalidParameter` for a
 * qualifier that conflicts with the one in the name, and `functionNotFound` /
 * `functionInOtherRegion` for an ARN of another account / region.
 */
export function parseFunctionName(input: unknown, options: ParseOptions): FunctionRef {
  const shape = options.shape ?? 'namespaced';
  const member = options.member ?? 'functionName';
  const max = shape === 'namespaced' ? 170 : 140;
  const pattern = shape === 'namespaced' ? NAMESPACED_FUNCTION_NAME_PATTERN : FUNCTION_NAME_PATTERN;

  if (typeof input !== 'string') {
    throw validation(constraintMessage(input === undefined ? 'null' : display(input), member, 'Member must not be null'));
  }
  const errors: string[] = [];
  if (input.length < 1) errors.push(constraintMessage(input, member, 'Member must have length greater than or equal to 1'));
  if (input.length > max) errors.push(constraintMessage(input, member, `Member must have length less than or equal to ${max}`));
  const m = (shape === 'namespaced' ? NAMESPACED_RE : FUNCTION_NAME_RE).exec(input);
  if (!m && input.length >= 1) {
    errors.push(constraintMessage(input, member, `Member must satisfy regular expression pattern: ${pattern}`));
  }
  if (errors.length > 0 || !m) throw validation(...errors);

  const [, arnPrefix, , regionPart, accountPart, , name = '', derivedQualifier] = m;
  if (name.length > MAX_NAME_LENGTH) {
    throw validation(constraintMessage(name, member, `Member must have length less than or equal to ${MAX_NAME_LENGTH}`));
  }

  let qualifier: string | undefined = derivedQualifier;
  if (options.qualifier !== undefined && options.qualifier !== null) {
    const q = parseQualifierParam(options.qualifier);
    if (q !== undefined) {
      if (qualifier !== undefined && qualifier !== q) {
        throw awsError('invalidParameter', { what: 'The derived qualifier from the function name does not match the specified qualifier.' });
      }
      qualifier = q;
    }
  }
  if (qualifier !== undefined) checkQualifier(qualifier);

  const region = regionPart ? regionPart.slice(0, -1) : options.caller.region;
  const account = accountPart ? accountPart.slice(0, -1) : options.caller.account;
  if (arnPrefix !== undefined && (!regionPart || !accountPart)) {
    // `arn:aws:lambda:` without region and account matches AWS's loose pattern, but names nothing.
    throw validation(constraintMessage(input, member, `Member must satisfy regular expression pattern: ${pattern}`));
  }
  if (region !== options.caller.region) {
    throw awsError('functionInOtherRegion', { arnRegion: region, region: options.caller.region });
  }
  if (account !== options.caller.account) {
    // No cross-account access in lambkin: another account's function is simply not found here.
    throw awsError('functionNotFound', { arn: functionArn(region, account, name, qualifier) });
  }
  if (qualifier !== undefined && options.allowQualifier === false) {
    throw awsError('invalidParameter', {
      what: `This operation acts on the function itself; remove the qualifier '${qualifier}' from ${member}.`,
    });
  }
  return qualifier === undefined ? { name } : { name, qualifier };
}

/** Validates the separate `Qualifier` parameter; `''` counts as absent (AWS's pattern allows it). */
export function parseQualifierParam(value: unknown, member = 'qualifier'): string | undefined {
  if (typeof value !== 'string') throw validation(constraintMessage(display(value), member, 'Member must be a string'));
  const errors: string[] = [];
  if (value.length > MAX_ALIAS_LENGTH) {
    errors.push(constraintMessage(value, member, `Member must have length less than or equal to ${MAX_ALIAS_LENGTH}`));
  }
  if (!QUALIFIER_RE.test(value)) errors.push(constraintMessage(value, member, `Member must satisfy regular expression pattern: ${QUALIFIER_PATTERN}`));
  if (errors.length > 0) throw validation(...errors);
  return value === '' ? undefined : value;
}

/** The kind of a qualifier. */
export function qualifierKind(qualifier: string): 'latest' | 'version' | 'alias' {
  if (qualifier === '$LATEST') return 'latest';
  return VERSION_RE.test(qualifier) ? 'version' : 'alias';
}

/** Throws a ValidationException unless `name` is a valid alias name (AWS's `Alias` shape). */
export function checkAliasName(name: unknown, member = 'name'): string {
  if (typeof name !== 'string') throw validation(constraintMessage(display(name), member, 'Member must not be null'));
  const errors: string[] = [];
  if (name.length < 1) errors.push(constraintMessage(name, member, 'Member must have length greater than or equal to 1'));
  if (name.length > MAX_ALIAS_LENGTH) {
    errors.push(constraintMessage(name, member, `Member must have length less than or equal to ${MAX_ALIAS_LENGTH}`));
  }
  if (name.length >= 1 && !ALIAS_RE.test(name)) {
    errors.push(constraintMessage(name, member, `Member must satisfy regular expression pattern: ${ALIAS_PATTERN}`));
  }
  if (errors.length > 0) throw validation(...errors);
  return name;
}

/** Throws a ValidationException unless `v` is `$LATEST` or a version number (AWS's `Version` shape). */
export function checkVersion(v: unknown, member = 'functionVersion'): string {
  if (typeof v !== 'string') throw validation(constraintMessage(display(v), member, 'Member must not be null'));
  if (v.length < 1 || v.length > 1024 || !(v === '$LATEST' || VERSION_RE.test(v))) {
    throw validation(constraintMessage(v, member, `Member must satisfy regular expression pattern: ${VERSION_PATTERN}`));
  }
  return v;
}

/** The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`. */
export function functionArn(region: string, account: string, name: string, qualifier?: string): string {
  const base = `arn:${partitionOf(region)}:lambda:${region}:${account}:function:${name}`;
  return qualifier === undefined ? base : `${base}:${qualifier}`;
}

/** The ARN of an alias (a function ARN qualified by the alias name). */
export function aliasArn(region: string, account: string, name: string, alias: string): string {
  return functionArn(region, account, name, alias);
}

function checkQualifier(q: string): void {
  // A qualifier from the name matched `$LATEST|[a-zA-Z0-9-_]+` but has no length limit there.
  // (The Qualifier parameter's pattern lets '$' through anywhere; such a qualifier names nothing
  // and resolves to ResourceNotFound later, as on AWS.)
  if (q.length > MAX_ALIAS_LENGTH) {
    throw validation(constraintMessage(q, 'qualifier', `Member must have length less than or equal to ${MAX_ALIAS_LENGTH}`));
  }
}

function validation(...errors: string[]) {
  return awsError('validation', { errors });
}

function display(v: unknown): string {
  try {
    return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}
