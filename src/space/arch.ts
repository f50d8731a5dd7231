// Paths (archs) as plain data: the shape of a space as the samplers and searchers see it (a
// number of searchable layers, each with the same number of choices) and the checks of a path
// against it. Samplers and searchers depend on this shape only, not on the geometry, so that
// tests can drive them on synthetic spaces and the search logic never needs the engine.
import type { Arch, ResolvedSpace } from './types.js';
import { archKey } from './types.js';

/** The combinatorial shape of a search space. */
export interface ArchSpace {
  /** Number of searchable layers (length of every arch). */
  readonly numLayers: number;
  /** Number of candidate ops of every searchable layer. */
  readonly numChoices: number;
}

export function archSpaceOf(space: ResolvedSpace): ArchSpace {
  return { numLayers: space.layers.length, numChoices: space.opNames.length };
}

/** Checks a shape given by a caller (positive integers). */
export function checkArchSpace(shape: ArchSpace, what = 'space'): ArchSpace {
  if (!Number.isSafeInteger(shape.numLayers) || shape.numLayers < 1) throw new RangeError(`${what}.numLayers: expected a positive integer, got ${shape.numLayers}`);
  if (!Number.isSafeInteger(shape.numChoices) || shape.numChoices < 1) throw new RangeError(`${what}.numChoices: expected a positive integer, got ${shape.numChoices}`);
  return { numLayers: shape.numLayers, numChoices: shape.numChoices };
}

/** Throws a RangeError naming `what` unless `arch` is a valid path of `shape`. */
export function assertArch(arch: unknown, shape: ArchSpace, what = 'arch'): asserts arch is Arch {
  if (!Array.isArray(arch)) throw new RangeError(`${what}: expected an array of ${shape.numLayers} choice indices, got ${JSON.stringify(arch)}`);
  if (arch.length !== shape.numLayers) throw new RangeError(`${what}: expected ${shape.numLayers} choice indices, got ${arch.length}`);
  for (let l = 0; l < arch.length; l++) {
    const c: unknown = arch[l];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= shape.numChoices) {
      throw new RangeError(`${what}[${l}]: expected a choice index in [0, ${shape.numChoices - 1}], got ${JSON.stringify(c)}`);
    }
  }
}

/** Number of paths of a shape, numChoices ^ numLayers, exactly. */
export function spaceSize(shape: ArchSpace): bigint {
  return BigInt(shape.numChoices) ** BigInt(shape.numLayers);
}

/** Number of layers where two paths differ. */
export function hammingDistance(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

export { archKey };
