/**
 * Weighted alias routing (AWS's RoutingConfig.AdditionalVersionWeights): an alias sends a share
 * (0..1) of its invocations to one additional version and the rest to its primary version.
 */
import { awsError, constraintMessage } from '../errors/catalogue.js';
import { LATEST } from './function-version.js';

/**
 * The version one invocation runs: the additional version whose weight `roll` (uniform in
 * [0, 1)) falls into, else the primary.
 */
export function routedVersion(primary: string, weights: Readonly<Record<string, number>>, roll: number): string {
  let acc = 0;
  for (const [v, w] of Object.entries(weights)) {
    acc += w;
    if (roll < acc) return v;
  }
  return primary;
}

/**
 * The rules of a routing beyond its JSON shape (the frontend checks that, weights within 0..1
 * included): one additional version only, not for an alias of `$LATEST`, and a version number
 * other than the primary. Whether the versions exist is the aliases room's to check.
 */
export function checkRouting(primary: string, weights: Readonly<Record<string, number>>): void {
  const versions = Object.keys(weights);
  if (versions.length === 0) return;
  if (versions.length > 1) {
    throw awsError('invalidParameter', { what: 'RoutingConfig can shift traffic to one additional version only.' });
  }
  if (primary === LATEST) {
    throw awsError('invalidParameter', { what: '$LATEST is not supported for an alias pointing to more than 1 version' });
  }
  for (const v of versions) {
    if (!/^[0-9]+$/.test(v)) {
      throw awsError('validation', {
        errors: [constraintMessage(v, 'routingConfig.additionalVersionWeights', 'Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]')],
      });
    }
    if (v === primary) {
      throw awsError('invalidParameter', { what: `Version ${v} is the alias's FunctionVersion; an additional version must be a different version.` });
    }
  }
}
