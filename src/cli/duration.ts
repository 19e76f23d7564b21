import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../util/duration.js';

/** A Commander argument parser for an integer option `name`, answering a bad value with a readable message. */
export function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
}

/** A Commander argument parser for a positive (finite) number option `name`. */
export function positive(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

/** A Commander argument parser for a duration (see {@link parseDuration}), in milliseconds. */
export function duration(v: string): number {
  try {
    return parseDuration(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
