// Strict-fairness sampling (FairNAS): one training step takes numChoices paths built from an
// independent random permutation of the choices in every layer, so that path i takes choice
// perm_l[i] in layer l and every choice of every layer is trained exactly once per step (each
// path on its own batch, gradients summed, one optimizer step: that part is the trainer's).
// A FLOPs budget cannot be honoured under strict fairness, so this sampler takes none.
import type { ArchSpace } from '../space/arch.js';
import { checkArchSpace } from '../space/arch.js';
import type { Arch } from '../space/types.js';
import type { RngState } from '../util/rng.js';
import { Rng } from '../util/rng.js';

export interface FairState {
  rng: RngState;
  steps: number;
}

export class FairSampler implements ArchSpace {
  readonly numLayers: number;
  readonly numChoices: number;
  private rng: Rng;
  private steps = 0;

  constructor(shape: ArchSpace, options: { seed: number }) {
    const s = checkArchSpace(shape);
    this.numLayers = s.numLayers;
    this.numChoices = s.numChoices;
    this.rng = new Rng(options.seed);
  }

  /** The numChoices paths of one step; together they cover every (layer, choice) exactly once. */
  step(): Arch[] {
    const paths: Arch[] = Array.from({ length: this.numChoices }, () => new Array<number>(this.numLayers));
    for (let l = 0; l < this.numLayers; l++) {
      const perm = this.rng.permutation(this.numChoices);
      for (let i = 0; i < this.numChoices; i++) (paths[i] as Arch)[l] = perm[i] as number;
    }
    this.steps++;
    return paths;
  }

  get stepsTaken(): number {
    return this.steps;
  }

  state(): FairState {
    return { rng: this.rng.state(), steps: this.steps };
  }

  restore(state: FairState): void {
    this.rng.restore(state.rng);
    this.steps = state.steps;
  }
}
