// Evolutionary and random search on synthetic objectives with a known optimum: constraints are
// never exceeded, no path is scored twice, evolution improves and beats random search, pool
// seeding beats random seeding, tight constraints fail clearly, and state()/restore() resumes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArchSpace } from '../src/space/arch.js';
import { hammingDistance } from '../src/space/arch.js';
import { costTable } from '../src/space/cost.js';
import { loadSpace } from '../src/space/presets.js';
import type { Arch } from '../src/space/types.js';
import { archKey } from '../src/space/types.js';
import { ConstraintError } from '../src/sampling/constraints.js';
import { GreedySampler } from '../src/sampling/greedy.js';
import { UniformSampler } from '../src/sampling/uniform.js';
import type { CandidateScorer, GenerationRecord, SearchResult } from '../src/search/common.js';
import { EvolutionSearch } from '../src/search/evolution.js';
import { RandomSearch } from '../src/search/random.js';

const roundTrip = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

const fm = loadSpace('fmnist');
const costs = costTable(fm);
const L = costs.numLayers;
const C = costs.numChoices;
// Known optimum: accuracy 1 at TARGET; loss decreases with matches, ties broken smoothly.
const TARGET: Arch = [3, 1, 4, 1, 5, 0, 2, 6, 5, 3, 5, 0, 2].slice(0, L);
const accuracyOf = (a: readonly number[], target = TARGET): number => (L - hammingDistance(a, target)) / L;
const lossOf = (a: readonly number[], target = TARGET): number => 1 - accuracyOf(a, target) + (0.01 * a.reduce((s, c, l) => s + Math.abs(c - (target[l] as number)), 0)) / (L * C);

/** A scorer that records every path it is asked to score. */
function recordingScorer(seen: string[], target = TARGET): CandidateScorer {
  return async (archs) => {
    for (const a of archs) seen.push(archKey(a));
    return archs.map((a) => ({ loss: lossOf(a, target), accuracy: accuracyOf(a, target) }));
  };
}

describe('evolutionary search', () => {
  it('SPOS defaults: 20 generations of 50, 25 + 25 children from the top 10', () => {
    const e = new EvolutionSearch({ space: costs, seed: 1 });
    assert.deepEqual([e.population, e.generations, e.parents, e.mutationChildren, e.crossoverChildren, e.mutationProb], [50, 20, 10, 25, 25, 0.1]);
  });

  it('improves towards the known optimum, scores no path twice, and beats random search', async () => {
    const seen: string[] = [];
    const log: GenerationRecord[] = [];
    const evo = await new EvolutionSearch({ space: costs, costs, seed: 2 }).run(recordingScorer(seen), (r) => log.push(r));
    assert.equal(new Set(seen).size, seen.length, 'a path was scored twice');
    assert.equal(evo.evaluated, seen.length);
    assert.equal(log.length, 20);
    assert.ok(seen.length <= 1000 && seen.length >= 950);
    assert.deepEqual(log[0]?.sources, { pool: 0, mutation: 0, crossover: 0, random: 50 });
    assert.ok((log[1]?.sources.mutation ?? 0) + (log[1]?.sources.crossover ?? 0) >= 40);
    const first = log[0]?.best.accuracy as number;
    const last = evo.top[0]?.accuracy as number;
    for (let g = 1; g < log.length; g++) assert.ok((log[g]?.best.accuracy as number) >= (log[g - 1]?.best.accuracy as number));
    assert.ok(last >= 11 / L && last > first + 0.3, `best ${first} -> ${last}`);
    const rnd = await new RandomSearch({ space: costs, costs, seed: 2 }).run(recordingScorer([]));
    assert.equal(rnd.evaluated, 1000);
    assert.ok(last > (rnd.top[0]?.accuracy as number) + 0.2);
    // the result reports flops and params of each path
    const best = evo.top[0];
    assert.equal(best?.flops, costs.archFlops(best?.arch as Arch));
    assert.equal(best?.params, costs.archParams(best?.arch as Arch));
    assert.equal(evo.top.length, 10);
    assert.deepEqual(roundTrip(evo), evo);
  });

  it('never exceeds a constraint (FLOPs, parameters, hook)', async () => {
    const seen: string[] = [];
    const hook = (a: readonly number[]): boolean => a[0] !== 3; // the optimum is outside
    const res = await new EvolutionSearch({
      space: costs,
      costs,
      seed: 3,
      population: 30,
      generations: 8,
      constraints: { flops: { min: 6e6, max: 9e6 }, params: 300e3, check: hook },
    }).run(recordingScorer(seen));
    assert.ok(seen.length > 200);
    for (const k of seen) {
      const a = k.split('-').map(Number);
      const f = costs.archFlops(a);
      assert.ok(f >= 6e6 && f <= 9e6, `FLOPs ${f}`);
      assert.ok(costs.archParams(a) <= 300e3);
      assert.ok(hook(a));
    }
    assert.ok((res.top[0]?.accuracy as number) < 1);
  });

  it('pool seeding beats random seeding on average (pool built by the greedy sampler)', async () => {
    let pooled = 0;
    let random = 0;
    for (let seed = 0; seed < 5; seed++) {
      // A different optimum per seed; the greedy sampler scores by the same synthetic loss.
      const target = TARGET.map((c, l) => (c + seed * (l + 1)) % C);
      const greedy = new GreedySampler({ seed, uniform: new UniformSampler(costs, { seed: seed + 100 }), eps: { totalIterations: 1000 } });
      for (let i = 0; i < 200; i++) await greedy.round(async (archs) => archs.map((a) => lossOf(a, target)));
      const init = greedy.pool.best(20).map((e) => e.arch);
      const opts = { space: costs, seed: seed + 7, population: 20, generations: 4, parents: 5, mutationChildren: 10, crossoverChildren: 10 };
      const a = await new EvolutionSearch({ ...opts, init }).run(recordingScorer([], target));
      const b = await new EvolutionSearch(opts).run(recordingScorer([], target));
      assert.equal(a.history[0]?.sources.pool, 20);
      pooled += a.top[0]?.accuracy as number;
      random += b.top[0]?.accuracy as number;
    }
    assert.ok(pooled / 5 > random / 5 + 0.05, `pool-seeded ${pooled / 5} vs random-seeded ${random / 5}`);
  });

  it('skips invalid or duplicate seeds and checks their shape', async () => {
    const over = costs.extremeArchs().maxFlops;
    const ok = new Array<number>(L).fill(0);
    const e = new EvolutionSearch({ space: costs, costs, seed: 4, population: 5, generations: 1, init: [over, ok, ok], constraints: { flops: 10e6 } });
    const seen: string[] = [];
    await e.run(recordingScorer(seen));
    assert.ok(seen.includes(archKey(ok)) && !seen.includes(archKey(over)));
    assert.equal(e.result().history[0]?.sources.pool, 1);
    assert.throws(() => new EvolutionSearch({ space: costs, seed: 1, init: [[0, 1]] }), /init\[0\]: expected 13 choice indices/);
    assert.throws(() => new EvolutionSearch({ space: costs, seed: 1, population: 20, mutationChildren: 15, crossoverChildren: 10 }), /must not exceed population/);
    const small = new EvolutionSearch({ space: costs, seed: 1, population: 21 });
    assert.deepEqual([small.mutationChildren, small.crossoverChildren], [10, 11]);
  });

  it('ends with a clear error on an infeasible or over-tight constraint instead of hanging', async () => {
    assert.throws(() => new EvolutionSearch({ space: costs, costs, seed: 1, constraints: { flops: costs.minFlops - 1 } }), (e: unknown) => e instanceof ConstraintError && e.code === 'INFEASIBLE');
    assert.throws(() => new EvolutionSearch({ space: costs, costs, seed: 1, constraints: { params: 1000 } }), (e: unknown) => e instanceof ConstraintError && e.code === 'INFEASIBLE');
    const e = new EvolutionSearch({ space: costs, costs, seed: 1, maxRandomTries: 2000, constraints: { check: () => false } });
    await assert.rejects(e.run(recordingScorer([])), (err: unknown) => err instanceof ConstraintError && err.code === 'TRIES_EXHAUSTED' && /2000 tries/.test(err.message) && /by the hook 2000/.test(err.message));
  });

  it('stops early, without revisiting, when the space is exhausted', async () => {
    const tiny: ArchSpace = { numLayers: 2, numChoices: 3 };
    const seen: string[] = [];
    const res = await new EvolutionSearch({ space: tiny, seed: 5, population: 4, generations: 10, parents: 2, mutationChildren: 2, crossoverChildren: 2, maxRandomTries: 500 }).run(
      async (archs) => {
        for (const a of archs) seen.push(archKey(a));
        return archs.map((a) => ({ loss: (a[0] as number) + (a[1] as number), accuracy: 0.5 }));
      },
    );
    assert.equal(res.evaluated, 9);
    assert.equal(new Set(seen).size, 9);
    assert.equal(seen.length, 9);
    assert.match(res.stoppedEarly ?? '', /no new valid path/);
    assert.deepEqual(res.top[0]?.arch, [0, 0]); // rankBy accuracy, ties by loss
  });

  it('rejects bad scorer output', async () => {
    const e = new EvolutionSearch({ space: costs, seed: 6, population: 5 });
    await assert.rejects(e.step(async (a) => a.slice(1).map(() => ({ loss: 1, accuracy: 0 }))), /returned 4 results for 5 paths/);
    await assert.rejects(e.step(async (a) => a.map(() => ({ loss: Number.NaN, accuracy: 0 }))), /finite loss and accuracy/);
  });
});

describe('state()/restore() resumes a search identically', () => {
  for (const kind of ['evolution', 'random'] as const) {
    it(kind, async () => {
      const make = (seed: number): EvolutionSearch | RandomSearch =>
        kind === 'evolution'
          ? new EvolutionSearch({ space: costs, costs, seed, population: 20, generations: 8, constraints: { flops: 11e6 } })
          : new RandomSearch({ space: costs, costs, seed, population: 20, generations: 8, constraints: { flops: 11e6 } });
      const a = make(10);
      for (let g = 0; g < 3; g++) await a.step(recordingScorer([]));
      const saved = roundTrip(a.state());
      const seenA: string[] = [];
      const resA: SearchResult = await a.run(recordingScorer(seenA));
      const b = make(999);
      b.restore(saved);
      const seenB: string[] = [];
      const resB = await b.run(recordingScorer(seenB));
      assert.deepEqual(seenB, seenA);
      assert.equal(seenA.length, 5 * 20);
      assert.deepEqual(resB, resA);
      assert.throws(() => (kind === 'evolution' ? new RandomSearch({ space: costs, seed: 1 }) : new EvolutionSearch({ space: costs, seed: 1 })).restore(saved), /expected version 1 of kind/);
    });
  }
});

describe('search stage: pool seeding', () => {
  it('re-scores the whole pool once and seeds from it in that order, replacing invalid seeds by the next pool path', async () => {
    const { runSearch } = await import('../src/pipeline/search.js');
    const { CandidatePool } = await import('../src/sampling/pool.js');
    const { DEFAULTS } = await import('../src/pipeline/config.js');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const space = loadSpace('fmnist-small');
    const costs = costTable(space);
    // Search-time accuracy: the share of identity ops, a ranking unlike the pool's stored scores.
    const accuracyOf = (a: readonly number[]) => a.filter((c) => c === 3).length / a.length;
    let evaluated = 0;
    const net = {
      evaluate: async (archs: Arch[], _images: Uint8Array, labels: Int32Array) => {
        evaluated += archs.length;
        return archs.map((a) => ({ loss: 1 - accuracyOf(a), correct: Math.round(accuracyOf(a) * labels.length), count: labels.length }));
      },
    };
    const pool = new CandidatePool({ capacity: 40 });
    // Seed 4: 11 of the 40 pool paths are under the FLOPs budget (random-stream version 2), so the
    // first population of 8 comes from the pool and invalid pool paths are skipped.
    const rng = new (await import('../src/util/rng.js')).Rng(4);
    while (pool.size < 40) pool.push(Array.from({ length: 6 }, () => rng.int(4)), rng.float()); // stale scores, random order
    const flopsMax = 4e6;
    const underBudget = pool.entries().filter((e) => costs.archFlops(e.arch) <= flopsMax).length;
    assert.ok(underBudget >= 8 && underBudget < pool.size, `the test needs 8 or more valid and some invalid pool paths, the draw gave ${underBudget} valid of ${pool.size}: choose another seed`);
    const n = 60;
    const searchSet = { images: new Uint8Array(n * 28 * 28), labels: Int32Array.from({ length: n }, (_, i) => i % 10), height: 28, width: 28, channels: 1, classes: 10 };
    const p = { config: { ...DEFAULTS, flopsMax, population: 8, generations: 1, compareInit: false, searchImages: n }, costs, space, searchSet, dir: mkdtempSync(join(tmpdir(), 'gnas-seed-')) };
    const out = await runSearch(p as never, net as never, pool, { log: () => undefined, quiet: true });
    const gen0 = out.runs[0]!.result.history[0]!;
    assert.equal(gen0.sources.pool, 8);
    assert.equal(gen0.sources.random, 0);
    const valid = pool.entries().filter((e) => costs.archFlops(e.arch) <= flopsMax);
    assert.ok(valid.length < pool.size, 'the test needs invalid pool paths');
    const expected = valid
      .map((e) => ({ key: e.key, acc: accuracyOf(e.arch) }))
      .sort((a, b) => b.acc - a.acc)
      .slice(0, 8);
    const got = gen0.candidates.map((c) => c.accuracy).sort((a, b) => b - a);
    assert.deepEqual(got, expected.map((e) => Math.round(e.acc * n) / n));
    assert.equal(evaluated, pool.size); // each pool path scored once; generation 0 came from the cache
  });
});
