/**
 * Validation of Lambda API request bodies at the boundary, with AWS's error types and wording:
 * malformed JSON or a wrong JSON type is InvalidRequestContentException (what Lambda's
 * deserializer answers), a value outside a modelled constraint is ValidationException listing
 * every violation. This is the one place for the request's shape, types, ranges and list lengths
 * (the function registry trusts them); semantic rules that need the registry's state or lambkin's
 * knowledge (runtimes, VpcConfig ids, reserved environment keys, revisions, references) are
 * checked by the function registry.
 */
import { z } from 'zod';
import { awsError, constraintMessage } from '../errors/catalogue.js';
import { parseFunctionName, type Caller } from '../functions/names.js';

/**
 * The function itself, for operations that take no qualifier: a name, ARN or partial ARN (path
 * parameter or FunctionName member), as the caller's function name.
 */
export function plainFunctionName(raw: unknown, caller: Caller): string {
  return parseFunctionName(raw, { caller, shape: 'plain', allowQualifier: false }).name;
}

/** Parses a JSON object body; an empty body is `{}` (the SDKs send none for some operations). */
export function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw awsError('badJson', { detail: (err as Error).message });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw awsError('badJson', { detail: 'Expected a JSON object at the top level' });
  }
  return value as Record<string, unknown>;
}

// Each constraint's message is AWS's "Member must ..." clause; the member name is camelCase as in AWS messages.
const min = (n: number) => `Member must have value greater than or equal to ${n}`;
const max = (n: number) => `Member must have value less than or equal to ${n}`;
const maxLen = (n: number) => `Member must have length less than or equal to ${n}`;
const minLen = (n: number) => `Member must have length greater than or equal to ${n}`;

const ROLE_PATTERN = 'arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+';
const HANDLER_PATTERN = '[^\\s]+';

const text = (maxLength: number) => z.string().max(maxLength, { error: maxLen(maxLength) });

const vpcConfig = z
  .object({
    SubnetIds: z.array(z.string()).max(16, { error: maxLen(16) }).optional(),
    SecurityGroupIds: z.array(z.string()).max(5, { error: maxLen(5) }).optional(),
    Ipv6AllowedForDualStack: z.boolean().optional(),
  })
  .passthrough();

const configFields = {
  Runtime: z.string().optional(),
  Role: z
    .string()
    .regex(new RegExp(`^${ROLE_PATTERN}$`), { error: `Member must satisfy regular expression pattern: ${ROLE_PATTERN}` })
    .optional(),
  Handler: text(128)
    .regex(new RegExp(`^${HANDLER_PATTERN}$`), { error: `Member must satisfy regular expression pattern: ${HANDLER_PATTERN}` })
    .optional(),
  Description: text(256).optional(),
  Timeout: z.number().int().min(1, { error: min(1) }).max(900, { error: max(900) }).optional(),
  MemorySize: z.number().int().min(128, { error: min(128) }).max(10240, { error: max(10240) }).optional(),
  Environment: z.object({ Variables: z.record(z.string(), z.string()).optional() }).passthrough().optional(),
  VpcConfig: vpcConfig.optional(),
  TracingConfig: z.object({ Mode: z.enum(['Active', 'PassThrough'], { error: 'Member must satisfy enum value set: [Active, PassThrough]' }).optional() }).passthrough().optional(),
  EphemeralStorage: z.object({ Size: z.number().int().min(512, { error: min(512) }).max(10240, { error: max(10240) }) }).optional(),
  Layers: z.array(z.string()).optional(),
  DeadLetterConfig: z.object({ TargetArn: z.string().optional() }).passthrough().optional(),
  KMSKeyArn: z.string().optional(),
};

const createFunction = z
  .object({
    FunctionName: z.string(),
    ...configFields,
    Code: z
      .object({
        ZipFile: z.string().optional(),
        S3Bucket: z.string().optional(),
        S3Key: z.string().optional(),
        S3ObjectVersion: z.string().optional(),
        ImageUri: z.string().optional(),
      })
      .passthrough(),
    Publish: z.boolean().optional(),
    PackageType: z.enum(['Zip', 'Image'], { error: 'Member must satisfy enum value set: [Zip, Image]' }).optional(),
    Architectures: z
      .array(z.enum(['x86_64', 'arm64'], { error: 'Member must satisfy enum value set: [x86_64, arm64]' }))
      .min(1, { error: minLen(1) })
      .max(1, { error: maxLen(1) })
      .optional(),
    Tags: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();

const updateConfiguration = z.object({ ...configFields, RevisionId: z.string().optional() }).passthrough();

const updateCode = z
  .object({
    ZipFile: z.string().optional(),
    S3Bucket: z.string().optional(),
    S3Key: z.string().optional(),
    ImageUri: z.string().optional(),
    Publish: z.boolean().optional(),
    DryRun: z.boolean().optional(),
    RevisionId: z.string().optional(),
    Architectures: z.array(z.enum(['x86_64', 'arm64'])).optional(),
  })
  .passthrough();

const publishVersion = z
  .object({ CodeSha256: z.string().optional(), Description: text(256).optional(), RevisionId: z.string().optional() })
  .passthrough();

const routingConfig = z
  .object({ AdditionalVersionWeights: z.record(z.string(), z.number().min(0, { error: min(0) }).max(1, { error: max(1) })).optional() })
  .passthrough();

const createAlias = z
  .object({ Name: z.string(), FunctionVersion: z.string(), Description: text(256).optional(), RoutingConfig: routingConfig.optional() })
  .passthrough();

const updateAlias = z
  .object({
    FunctionVersion: z.string().optional(),
    Description: text(256).optional(),
    RoutingConfig: routingConfig.optional(),
    RevisionId: z.string().optional(),
  })
  .passthrough();

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = body;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Runs a schema and turns its issues into AWS's errors. */
function check<S extends z.ZodType>(schema: S, body: Record<string, unknown>): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const typeIssue = r.error.issues.find((i) => i.code === 'invalid_type' || i.code === 'invalid_union');
  if (typeIssue) {
    const where = typeIssue.path.map(String).join('.');
    const got = valueAt(body, typeIssue.path);
    throw awsError('badJson', {
      detail: got === undefined ? `Missing required member ${where}` : `Cannot deserialize ${JSON.stringify(got)} as the type of ${where}`,
    });
  }
  throw awsError('validation', {
    errors: r.error.issues.map((i) =>
      constraintMessage(valueAt(body, i.path), i.path.map((p) => (typeof p === 'string' ? lowerFirst(p) : String(p))).join('.'), i.message),
    ),
  });
}

export type CreateFunctionRequest = z.output<typeof createFunction>;
export type UpdateConfigurationRequest = z.output<typeof updateConfiguration>;
export type UpdateCodeRequest = z.output<typeof updateCode>;
export type PublishVersionRequest = z.output<typeof publishVersion>;
export type CreateAliasRequest = z.output<typeof createAlias>;
export type UpdateAliasRequest = z.output<typeof updateAlias>;

/** Decodes Code.ZipFile / ZipFile (base64 in JSON). */
function decodeZip(b64: string | undefined, s3: boolean, image: boolean): Buffer {
  if (image) throw awsError('invalidParameter', { what: 'lambkin runs .zip packages only; container images (ImageUri, PackageType Image) are not supported. Send Code.ZipFile.' });
  if (s3) throw awsError('invalidParameter', { what: 'lambkin has no S3: send the package inline as Code.ZipFile (base64) instead of S3Bucket/S3Key.' });
  if (b64 === undefined) throw awsError('invalidParameter', { what: 'Please provide a source for function code: Code.ZipFile is required.' });
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64.replace(/\s+/g, ''))) throw awsError('badJson', { detail: 'Code.ZipFile is not valid base64' });
  return Buffer.from(b64, 'base64');
}

/** CreateFunction's body, validated, with the decoded zip. */
export function parseCreateFunction(body: Record<string, unknown>): CreateFunctionRequest & { zip: Buffer } {
  const r = check(createFunction, body);
  const missing: string[] = [];
  if (r.PackageType !== 'Image') {
    if (r.Runtime === undefined) missing.push(constraintMessage('null', 'runtime', 'Member must not be null'));
    if (r.Handler === undefined) missing.push(constraintMessage('null', 'handler', 'Member must not be null'));
  }
  if (r.Role === undefined) missing.push(constraintMessage('null', 'role', 'Member must not be null'));
  if (missing.length > 0) throw awsError('validation', { errors: missing });
  const zip = decodeZip(r.Code.ZipFile, r.Code.S3Bucket !== undefined, r.PackageType === 'Image' || r.Code.ImageUri !== undefined);
  return { ...r, zip };
}

/** UpdateFunctionConfiguration's body, validated. */
export function parseUpdateConfiguration(body: Record<string, unknown>): UpdateConfigurationRequest {
  return check(updateConfiguration, body);
}

/** UpdateFunctionCode's body, validated, with the decoded zip. */
export function parseUpdateCode(body: Record<string, unknown>): UpdateCodeRequest & { zip: Buffer } {
  const r = check(updateCode, body);
  return { ...r, zip: decodeZip(r.ZipFile, r.S3Bucket !== undefined, r.ImageUri !== undefined) };
}

/**
 * UpdateFunctionCode's Architectures: at most one (the schema has checked each value). Separate from
 * {@link parseUpdateCode} because it is checked after the function name, as it always was.
 */
export function updateCodeArchitectures(r: UpdateCodeRequest): readonly string[] | undefined {
  const a = r.Architectures;
  if (a !== undefined && a.length > 1) {
    throw awsError('validation', {
      errors: [constraintMessage(`[${a.join(', ')}]`, 'architectures', 'Member must have length less than or equal to 1, Member must satisfy enum value set: [x86_64, arm64]')],
    });
  }
  return a;
}

/** PublishVersion's, CreateAlias's and UpdateAlias's bodies, validated. */
export const parsePublishVersion = (b: Record<string, unknown>): PublishVersionRequest => check(publishVersion, b);
export const parseCreateAlias = (b: Record<string, unknown>): CreateAliasRequest => check(createAlias, b);
export const parseUpdateAlias = (b: Record<string, unknown>): UpdateAliasRequest => check(updateAlias, b);

/** MaxItems for List* operations: 1–10000 (AWS model). */
export function parseMaxItems(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw awsError('badJson', { detail: `MaxItems '${raw}' is not an integer` });
  if (n < 1 || n > 10000) {
    throw awsError('validation', { errors: [constraintMessage(raw, 'maxItems', n < 1 ? min(1) : max(10000))] });
  }
  return n;
}
