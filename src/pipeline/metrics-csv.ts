// Per-epoch metrics as CSV, for a spreadsheet or pandas without parsing log.jsonl:
//   metrics.csv          supernet training, one row per epoch (rewritten whole at every epoch end
//                        from the trainer's history, so a resumed run never holds duplicate rows)
//   retrain-metrics.csv  retraining of the chosen path, one row per epoch
// Accuracies are fractions in [0, 1], as in results.json; a value a sampler does not have (the
// pool's best and turnover for uniform and fair) is an empty cell.
import { join } from 'node:path';

import { writeFileAtomic } from '../util/atomic-file.js';
import type { RetrainEpoch } from './retrain.js';
import type { EpochSummary } from './train-supernet.js';

export const METRICS_FILE = 'metrics.csv';
export const RETRAIN_METRICS_FILE = 'retrain-metrics.csv';

/** Column name and how to get it from a row; the order is the file's. */
type Column<T> = [string, (row: T) => number | string | undefined];

const SUPERNET_COLUMNS: Column<EpochSummary>[] = [
  ['epoch', (e) => e.epoch],
  ['iterations', (e) => e.iterations],
  ['train_loss', (e) => e.trainLoss],
  ['train_accuracy', (e) => e.trainAccuracy],
  // Mean over 10 fixed random paths on held-out images: comparable across samplers.
  ['probe_loss', (e) => e.probeLoss],
  ['probe_accuracy', (e) => e.probeAccuracy],
  // GreedyNAS: the pool's best path on the same held-out images.
  ['pool_best_loss', (e) => e.poolBestLoss],
  ['pool_best_accuracy', (e) => e.poolBestAccuracy],
  ['pool_best', (e) => e.poolBest],
  ['pi', (e) => e.pi],
  ['pool_size', (e) => e.poolSize],
  ['seconds', (e) => e.seconds],
];

const RETRAIN_COLUMNS: Column<RetrainEpoch>[] = [
  ['epoch', (e) => e.epoch],
  ['train_loss', (e) => e.trainLoss],
  ['train_accuracy', (e) => e.trainAccuracy],
  ['seconds', (e) => e.seconds],
];

function cell(v: number | string | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  // Keys hold digits and dashes only, but quote anything a CSV reader could split on.
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** CSV text of rows under the given columns, with a header line. */
export function toCsv<T>(columns: Column<T>[], rows: readonly T[]): string {
  const lines = [columns.map(([name]) => name).join(',')];
  for (const r of rows) lines.push(columns.map(([, get]) => cell(get(r))).join(','));
  return `${lines.join('\n')}\n`;
}

export function supernetMetricsCsv(history: readonly EpochSummary[]): string {
  return toCsv(SUPERNET_COLUMNS, history);
}

export function retrainMetricsCsv(epochs: readonly RetrainEpoch[]): string {
  return toCsv(RETRAIN_COLUMNS, epochs);
}

/** Writes <dir>/metrics.csv from the whole training history (atomically). */
export function writeSupernetMetrics(dir: string, history: readonly EpochSummary[]): string {
  const file = join(dir, METRICS_FILE);
  writeFileAtomic(file, supernetMetricsCsv(history));
  return file;
}

/** Writes <dir>/retrain-metrics.csv from the retraining's epochs (atomically). */
export function writeRetrainMetrics(dir: string, epochs: readonly RetrainEpoch[]): string {
  const file = join(dir, RETRAIN_METRICS_FILE);
  writeFileAtomic(file, retrainMetricsCsv(epochs));
  return file;
}
