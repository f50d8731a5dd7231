// Divergence: a training step whose loss or updated weights are not finite, or whose loss passes
// --max-loss. The engine finds non-finite values inside its SGD pass (code GNAS_NONFINITE) and
// then refuses further work and checkpoint saves, so what is on disk stays the last good state;
// here that becomes one message naming the iteration, path, learning rate, tensor and the
// checkpoint to resume from, and the trainer stops with a non-zero exit.

export class DivergenceError extends Error {
  readonly code = 'GNAS_DIVERGED';
  constructor(message: string) {
    super(message);
    this.name = 'DivergenceError';
  }
}

export interface StepPlace {
  /** What was training ("supernet", "retraining"). */
  stage: string;
  iteration: number;
  /** Arch key(s) of the step's path(s). */
  path: string;
  lr: number;
  /** The checkpoint a resume would start from ('' = none written yet). */
  lastCheckpoint: string;
}

function advice(place: StepPlace): string {
  const from = place.lastCheckpoint === '' ? 'no checkpoint was written before it' : `the last good checkpoint is ${place.lastCheckpoint}`;
  return `Nothing was saved after the divergence; ${from}. Lower --lr (or lengthen --warmup-epochs) and train again`;
}

function where(place: StepPlace): string {
  return `${place.stage} training diverged at iteration ${place.iteration} on path ${place.path} (lr ${place.lr.toExponential(3)})`;
}

/**
 * Runs one training step; a GNAS_NONFINITE engine error or a loss above `maxLoss` (null = no
 * limit) becomes a DivergenceError. Other errors pass through unchanged.
 */
export async function guardStep<T extends { loss: number }>(step: () => Promise<T>, place: StepPlace, maxLoss: number | null): Promise<T> {
  let r: T;
  try {
    r = await step();
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code !== 'GNAS_NONFINITE') throw e;
    throw new DivergenceError(`${where(place)}: ${err.message}. ${advice(place)}`);
  }
  if (maxLoss !== null && r.loss > maxLoss) {
    throw new DivergenceError(`${where(place)}: loss ${r.loss.toFixed(4)} is above --max-loss ${maxLoss}. ${advice(place)}`);
  }
  return r;
}
