// The onnxruntime peer of `npm run bench`, a child process of its own: eval-mode forward of the W1
// path as exported by our exporter (src/export/onnx.ts, BN folded into the convs), written to the
// workload folder by src/bench/ours-w1.ts, on the same 128 images (normalised, NCHW, prepared
// once outside the timed call), CPU execution provider, intra-op threads = the bench's threads,
// inter-op threads 1, sequential execution, all graph optimisations. Checks its logits against
// the engine's eval-mode logits of the same images, then prints one JSON object on stdout, or
// {"skipped": reason} when onnxruntime-node is not installed.
//
//   node dist/bench/ort-w1.js --workload DIR --threads N [--quick]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { diffStats, openSession, runNchw } from '../export/parity.js';
import { MissingDependencyError, loadOnnxRuntime, onnxRuntimeVersion } from '../util/onnxruntime.js';
import { medianMs } from './timing.js';
import { readWorkload } from './workload.js';

function floats(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { workload: { type: 'string' }, threads: { type: 'string' }, quick: { type: 'boolean', default: false } } });
  if (!values.workload || !values.threads) throw new Error('usage: node dist/bench/ort-w1.js --workload DIR --threads N [--quick]');
  const threads = Number(values.threads);
  try {
    await loadOnnxRuntime('the onnxruntime peer of the bench');
  } catch (e) {
    if (!(e instanceof MissingDependencyError)) throw e;
    process.stdout.write(JSON.stringify({ skipped: e.message }) + '\n');
    return;
  }
  const w = readWorkload(values.workload);
  const B = w.train.batch;
  const dims = [B, w.image.channels, w.image.height, w.image.width];
  const x = floats(join(w.dir, 'w1.input-nchw.f32'));
  const ours = floats(join(w.dir, 'w1.logits-ours.f32'));
  const session = await openSession(join(w.dir, 'w1.onnx'), threads);
  const logits = await runNchw(session, x, dims);
  const parity = diffStats(logits, ours, w.classes);
  const steps = values.quick ? 3 : 12;
  const ms = await medianMs('onnxruntime', () => runNchw(session, x, dims), steps, 3);
  await session.release();
  process.stdout.write(
    JSON.stringify({
      side: 'onnxruntime',
      version: onnxRuntimeVersion(),
      threads: { intraOp: threads, interOp: 1 },
      batch: B,
      evalFwd: { imagesPerS: (B * 1000) / ms, ms, steps },
      parity,
      model: 'our exporter, BN folded, opset 17; CPU execution provider, graphOptimizationLevel all',
    }) + '\n',
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
