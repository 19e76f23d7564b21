/**
 * The one error catalogue: every error lambkin answers with, as an AWS error type, HTTP status and
 * message template. The AWS SDKs pick the exception class from the type (the `x-amzn-ErrorType`
 * header), so a type here must be the name AWS uses. Messages follow AWS's wording where AWS has
 * one, and otherwise say what happened and how to fix it.
 *
 * Every layer throws these (the functions registry as much as the frontend), so the catalogue
 * sits below all of them.
 */

interface Entry<P> {
  readonly type: string;
  readonly status: number;
  readonly message: (params: P) => string;
  /** Parameters used by the catalogue's own test, so every entry is exercised. */
  readonly example: P;
}

function entry<P>(type: string, status: number, message: (p: P) => string, example: P): Entry<P> {
  return { type, status, message, example };
}

const LIMITS = {
  invokeSyncBytes: 6_291_456,
  invokeAsyncBytes: 262_144,
  createFunctionRequestBytes: 69_905_067,
};

/** Every error lambkin answers with, by code. */
export const catalogue = {
  functionNotFound: entry('ResourceNotFoundException', 404, (p: { arn: string }) => `Function not found: ${p.arn}`, {
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:missing',
  }),
  aliasNotFound: entry('ResourceNotFoundException', 404, (p: { arn: string }) => `Cannot find alias arn: ${p.arn}`, {
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:f:live',
  }),
  resourceNotFound: entry('ResourceNotFoundException', 404, (p: { what: string }) => p.what, {
    what: 'No Provisioned Concurrency Config found for this function',
  }),
  functionExists: entry('ResourceConflictException', 409, (p: { name: string }) => `Function already exist: ${p.name}`, {
    name: 'hello',
  }),
  aliasExists: entry('ResourceConflictException', 409, (p: { arn: string }) => `Alias already exists: ${p.arn}`, {
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:f:live',
  }),
  functionNotReady: entry(
    'ResourceConflictException',
    409,
    (p: { state: string; reason: string }) =>
      `The operation cannot be performed at this time. The function is currently in the following state: ${p.state}` +
      (p.reason ? ` (${p.reason})` : ''),
    { state: 'Pending', reason: '' },
  ),
  /** An update (LastUpdateStatus InProgress) has not completed yet; AWS names the unqualified function ARN. */
  updateInProgress: entry(
    'ResourceConflictException',
    409,
    (p: { arn: string }) => `The operation cannot be performed at this time. An update is in progress for resource: ${p.arn}`,
    { arn: 'arn:aws:lambda:us-east-1:000000000000:function:hello' },
  ),
  conflict: entry('ResourceConflictException', 409, (p: { what: string }) => p.what, {
    what: 'The version 1 is referenced by an alias; delete the alias first.',
  }),
  revisionMismatch: entry(
    'PreconditionFailedException',
    412,
    (_: Record<string, never>) =>
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    {},
  ),
  invalidParameter: entry('InvalidParameterValueException', 400, (p: { what: string }) => p.what, {
    what: 'The role defined for the function cannot be assumed by Lambda.',
  }),
  invalidRuntime: entry(
    'InvalidParameterValueException',
    400,
    (p: { runtime: string; valid: readonly string[] }) =>
      `Value ${p.runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [${p.valid.join(', ')}] or be a valid ARN`,
    { runtime: 'cobol1', valid: ['nodejs20.x', 'python3.12', 'provided.al2023'] },
  ),
  badZip: entry(
    'InvalidParameterValueException',
    400,
    (p: { detail: string }) => `Could not unzip uploaded file. Please check your file, then try to upload again. (${p.detail})`,
    { detail: 'end of central directory record signature not found' },
  ),
  zipEntryOutsideFolder: entry(
    'InvalidParameterValueException',
    400,
    (p: { entry: string }) =>
      `Could not unzip uploaded file: the entry '${p.entry}' would be extracted outside the function's folder ` +
      `(absolute path or '..'). Build the zip from inside the folder that holds your code, then upload it again.`,
    { entry: '../evil.js' },
  ),
  functionInOtherRegion: entry(
    'ResourceNotFoundException',
    404,
    (p: { arnRegion: string; region: string }) => `Functions from '${p.arnRegion}' are not reachable in this region ('${p.region}')`,
    { arnRegion: 'us-west-2', region: 'us-east-1' },
  ),
  unzippedTooLarge: entry(
    'InvalidParameterValueException',
    400,
    (p: { limit: number }) => `Unzipped size must be smaller than ${p.limit} bytes`,
    { limit: 262_144_000 },
  ),
  validation: entry(
    'ValidationException',
    400,
    (p: { errors: readonly string[] }) =>
      `${p.errors.length} validation error${p.errors.length === 1 ? '' : 's'} detected: ${p.errors.join('; ')}`,
    { errors: ["Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"] },
  ),
  badJson: entry(
    'InvalidRequestContentException',
    400,
    (p: { detail: string }) => `Could not parse request body into json: ${p.detail}`,
    { detail: "Unexpected token 'x'" },
  ),
  payloadNotJson: entry(
    'InvalidRequestContentException',
    400,
    (p: { detail: string }) => `Could not parse request body into json: Could not parse payload into json: ${p.detail}`,
    { detail: "Unexpected token 'x'" },
  ),
  invokeTooLarge: entry(
    'RequestTooLargeException',
    413,
    (p: { async: boolean }) =>
      p.async
        ? `Request must be smaller than ${LIMITS.invokeAsyncBytes} bytes for the InvokeAsync operation`
        : `Request must be smaller than ${LIMITS.invokeSyncBytes} bytes for the InvokeFunction operation`,
    { async: false },
  ),
  requestEntityTooLarge: entry(
    'RequestEntityTooLargeException',
    413,
    (p: { operation: string; limit: number }) => `Request must be smaller than ${p.limit} bytes for the ${p.operation} operation`,
    { operation: 'CreateFunction', limit: LIMITS.createFunctionRequestBytes },
  ),
  throttled: entry('TooManyRequestsException', 429, (_: { reason: string }) => 'Rate Exceeded.', {
    reason: 'ConcurrentInvocationLimitExceeded',
  }),
  provisionedConfigNotFound: entry(
    'ProvisionedConcurrencyConfigNotFoundException',
    404,
    (_: Record<string, never>) => 'No Provisioned Concurrency Config found for this function',
    {},
  ),
  unreservedBelowMinimum: entry(
    'InvalidParameterValueException',
    400,
    (p: { minimum: number }) =>
      `Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${p.minimum}].`,
    { minimum: 100 },
  ),
  provisionedOnUnpublished: entry(
    'InvalidParameterValueException',
    400,
    (_: Record<string, never>) => 'Provisioned Concurrency Configs cannot be applied to unpublished function versions.',
    {},
  ),
  unknownOperation: entry(
    'UnknownOperationException',
    404,
    (p: { method: string; path: string }) =>
      `No Lambda operation matches ${p.method} ${p.path}. Check the endpoint URL and the API version in the path.`,
    { method: 'GET', path: '/2099-01-01/nothing' },
  ),
  /** CONNECT (a proxy tunnel): lambkin is an API endpoint, not a proxy. */
  methodNotAllowed: entry(
    'MethodNotAllowedException',
    405,
    (p: { method: string }) => `The ${p.method} method is not supported: this is a Lambda API endpoint, not a proxy.`,
    { method: 'CONNECT' },
  ),
  service: entry(
    'ServiceException',
    500,
    (p: { detail: string }) => `lambkin hit an internal error: ${p.detail}. The request was not applied; retry it, and report it if it persists.`,
    { detail: 'database is locked' },
  ),
  // Authentication (src/frontend/authenticator.ts): AWS's own types and wording.
  /** A request with no SigV4 signature where one is required (Lambda answers an unsigned request so). */
  missingAuthenticationToken: entry('MissingAuthenticationTokenException', 403, (_: Record<string, never>) => 'Missing Authentication Token', {}),
  /** An access key id (or session token) this lambkin did not issue, or one revoked since. */
  unrecognizedClient: entry('UnrecognizedClientException', 403, (_: Record<string, never>) => 'The security token included in the request is invalid.', {}),
  invalidSignature: entry(
    'InvalidSignatureException',
    403,
    (_: Record<string, never>) =>
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    {},
  ),
  signatureExpired: entry(
    'InvalidSignatureException',
    403,
    (p: { signed: string; limit: string; now: string; window: string; future: boolean }) =>
      p.future
        ? `Signature not yet current: ${p.signed} is still later than ${p.limit} (${p.now} + ${p.window})`
        : `Signature expired: ${p.signed} is now earlier than ${p.limit} (${p.now} - ${p.window})`,
    { signed: '20240101T000000Z', limit: '20240101T000500Z', now: '20240101T001000Z', window: '5 min.', future: false },
  ),
  incompleteSignature: entry('IncompleteSignatureException', 400, (p: { what: string }) => p.what, {
    what: "Authorization header requires 'Signature' parameter.",
  }),
  /** Another account's function, named by ARN, without a resource-based policy allowing the caller (lambkin has none). */
  accessDenied: entry(
    'AccessDeniedException',
    403,
    (p: { principal: string; action: string; resource: string }) =>
      `User: ${p.principal} is not authorized to perform: ${p.action} on resource: ${p.resource} because no resource-based policy allows the ${p.action} action`,
    {
      principal: 'arn:aws:sts::111111111111:assumed-role/lambkin-role/caller',
      action: 'lambda:InvokeFunction',
      resource: 'arn:aws:lambda:us-east-1:222222222222:function:other',
    },
  ),
  // X-Ray API (src/frontend/xray-api.ts): X-Ray's own error types.
  xrayInvalidRequest: entry('InvalidRequestException', 400, (p: { what: string }) => p.what, {
    what: 'TraceIds may hold at most 5 trace ids',
  }),
} as const;

/** The name of a catalogue entry. */
export type ErrorCode = keyof typeof catalogue;
type ParamsOf<C extends ErrorCode> = (typeof catalogue)[C] extends Entry<infer P> ? P : never;

/** An error with an AWS error type and HTTP status, as an SDK expects to parse it. */
export class AwsError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly type: string,
    readonly status: number,
    message: string,
    /** Extra members of the JSON error body (e.g. `Reason` for TooManyRequestsException). */
    readonly fields: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = type;
  }
}

/** Builds the catalogue's error `code` with its parameters. */
export function awsError<C extends ErrorCode>(code: C, params: ParamsOf<C>, fields?: Record<string, string>): AwsError {
  const e = catalogue[code] as unknown as Entry<ParamsOf<C>>;
  return new AwsError(code, e.type, e.status, e.message(params), fields);
}

/** One validation message in AWS's wording, for the `validation` entry. */
export function constraintMessage(value: unknown, member: string, constraint: string): string {
  return `Value '${String(value)}' at '${member}' failed to satisfy constraint: ${constraint}`;
}

/** Lambda's request size limits (bytes) that the frontend enforces and the messages name. */
export const limits = LIMITS;
