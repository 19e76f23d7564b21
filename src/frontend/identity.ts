/**
 * Who is calling: lambkin accepts any credentials (it is not an IAM), but takes the region from the
 * SigV4 credential scope and the account from the access key id, so that two "accounts" can be
 * told apart locally by using 12-digit access key ids.
 */
import type { Caller } from '../functions/names.js';

/** The account of a caller whose access key id is not 12 digits (or who sent no credentials). */
export const DEFAULT_ACCOUNT = '000000000000';

// Credential=AKID/20240101/us-east-1/lambda/aws4_request
const CREDENTIAL = /Credential=([^/,\s]+)\/\d{8}\/([a-z0-9-]+)\/[a-z0-9-]+\/aws4_request/;

/** Reads the caller from an Authorization header or a presigned URL's X-Amz-Credential. */
export function callerFrom(
  authorization: string | undefined,
  presignedCredential: string | null,
  defaultRegion: string,
): Caller {
  const m =
    (authorization && CREDENTIAL.exec(authorization)) ||
    (presignedCredential && CREDENTIAL.exec(`Credential=${presignedCredential}`));
  if (!m) return { account: DEFAULT_ACCOUNT, region: defaultRegion };
  const [, accessKeyId = '', region = defaultRegion] = m;
  return { account: /^\d{12}$/.test(accessKeyId) ? accessKeyId : DEFAULT_ACCOUNT, region };
}
