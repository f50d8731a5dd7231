// Learning rate at iteration t of T: linear warm-up over the first W iterations to the peak,
// then cosine decay to zero at T (docs/method.md, "Greedy supernet training": cosine to ~0).
export function learningRate(t: number, total: number, warmup: number, peak: number): number {
  if (warmup > 0 && t < warmup) return (peak * (t + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, Math.max(0, (t - warmup) / span));
  return 0.5 * peak * (1 + Math.cos(Math.PI * progress));
}
