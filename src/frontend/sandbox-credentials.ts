/**
 * Sandbox credentials: temporary keys (`ASIA…` plus a session token, as Lambda gives a function
 * its execution role's session) issued to one sandbox when it starts and revoked when it stops.
 * A request signed with them is verified and acts as the sandbox's account only. Held in memory:
 * no sandbox outlives the server, so neither do its credentials.
 */
import { randomBytes } from 'node:crypto';
import { newAccessKeyId, newSecretAccessKey } from './host-credentials.js';

/** What a sandbox's credentials stand for. */
export interface SandboxPrincipal {
  readonly sandboxId: string;
  readonly account: string;
  readonly region: string;
  /** The unqualified ARN of the function the sandbox runs. */
  readonly functionArn: string;
  /** The function's execution role ARN, for the principal named in AccessDenied messages. */
  readonly role?: string;
}

/** The variables a sandbox receives, as Lambda names them. */
export interface SandboxCredentialSet {
  readonly AWS_ACCESS_KEY_ID: string;
  readonly AWS_SECRET_ACCESS_KEY: string;
  readonly AWS_SESSION_TOKEN: string;
}

/** One live sandbox key, as the authenticator looks it up. */
export interface SandboxKey {
  readonly principal: SandboxPrincipal;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** `arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION`, as AWS names a function's session. */
  readonly principalArn: string;
}

/** The session's ARN: the execution role assumed with the function's name as session name. */
function assumedRoleArn(p: SandboxPrincipal): string {
  const roleName = /:role\/(?:.*\/)?([^/]+)$/.exec(p.role ?? '')?.[1] ?? 'lambkin-function';
  const functionName = p.functionArn.slice(p.functionArn.lastIndexOf(':') + 1);
  const partition = p.functionArn.split(':')[1] ?? 'aws';
  return `arn:${partition}:sts::${p.account}:assumed-role/${roleName}/${functionName}`;
}

/** Issues and revokes per-sandbox temporary credentials. */
export class SandboxCredentials {
  private readonly byKey = new Map<string, SandboxKey>();
  private readonly bySandbox = new Map<string, string>();

  /** New credentials for a sandbox; any it held before are revoked. */
  issue(principal: SandboxPrincipal): SandboxCredentialSet {
    this.revoke(principal.sandboxId);
    const accessKeyId = newAccessKeyId('ASIA');
    const key: SandboxKey = {
      principal,
      secretAccessKey: newSecretAccessKey(),
      sessionToken: randomBytes(96).toString('base64'),
      principalArn: assumedRoleArn(principal),
    };
    this.byKey.set(accessKeyId, key);
    this.bySandbox.set(principal.sandboxId, accessKeyId);
    return { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey, AWS_SESSION_TOKEN: key.sessionToken };
  }

  /** Revokes the sandbox's credentials (idempotent). */
  revoke(sandboxId: string): void {
    const key = this.bySandbox.get(sandboxId);
    if (key === undefined) return;
    this.bySandbox.delete(sandboxId);
    this.byKey.delete(key);
  }

  /** The live key with this id. */
  get(accessKeyId: string): SandboxKey | undefined {
    return this.byKey.get(accessKeyId);
  }

  /** How many sandboxes hold credentials now. */
  get size(): number {
    return this.byKey.size;
  }
}
