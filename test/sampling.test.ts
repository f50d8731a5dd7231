// RNG (keyed streams, the committed stream fixture), candidate pool, eps schedule, stopping rule, and the uniform, fair and greedy samplers,
// including the slides' 83.38% / 99.36% both exactly and by simulating the greedy sampler.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ArchSpace } from '../src/space/arch.js';
import { costTable } from '../src/space/cost.js';
import { FlopsHistogram } from '../src/space/histogram.js';
import { loadSpace } from '../src/space/presets.js';
import { resolveSpace } from '../src/space/resolve.js';
import type { Arch } from '../src/space/types.js';
import { archKey, parseArchKey } from '../src/space/types.js';
import { ConstraintError } from '../src/sampling/constraints.js';
import { FairSampler } from '../src/sampling/fair.js';
import type { LossScorer, RoundRecord } from '../src/sampling/greedy.js';
import { binomialTail, effectiveGoodShare, GreedySampler } from '../src/sampling/greedy.js';
import { CandidatePool } from '../src/sampling/pool.js';
import { EpsSchedule, StoppingRule } from '../src/sampling/schedule.js';
import { UniformSampler } from '../src/sampling/uniform.js';
import { packageRoot } from '../src/util/package-root.js';
import { Rng, RNG_STREAMS, rngStreamsMismatch } from '../src/util/rng.js';
import { smallSpace } from './helpers/spaces.js';

const roundTrip = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const xs = Array.from({ length: 20 }, () => a.int(1000));
    assert.deepEqual(Array.from({ length: 20 }, () => b.int(1000)), xs);
    assert.notDeepEqual(Array.from({ length: 20 }, () => c.int(1000)), xs);
  });

  it('state()/restore() repeats every later draw, through JSON', () => {
    const a = new Rng(123);
    for (let i = 0; i < 57; i++) a.float();
    const saved = roundTrip(a.state());
    const seq = (r: Rng): number[] => [r.int(10), r.float(), r.normal(), r.choice([1, 2, 3]), ...r.shuffle([1, 2, 3, 4, 5]), ...r.permutation(6)];
    const first = seq(a);
    const b = Rng.fromState(saved);
    assert.deepEqual(seq(b), first);
    a.restore(saved);
    assert.deepEqual(seq(a), first);
    assert.throws(() => a.restore({ algorithm: 'xoroshiro128plus', words: [0, 0, 0, 0] }), /not all 0/);
  });

  it('int, float, shuffle, choice, normal have the right ranges and moments', () => {
    const r = new Rng(1);
    const counts = new Array<number>(7).fill(0);
    const N = 70_000;
    for (let i = 0; i < N; i++) counts[r.int(7)]!++;
    for (const c of counts) assert.ok(Math.abs(c - N / 7) < 5 * Math.sqrt((N * (1 / 7) * 6) / 7), `int(7) count ${c}`);
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < 20_000; i++) {
      const f = r.float();
      assert.ok(f >= 0 && f < 1);
      const z = r.normal(2, 3);
      sum += z;
      sq += z * z;
    }
    const mean = sum / 20_000;
    const sd = Math.sqrt(sq / 20_000 - mean * mean);
    assert.ok(Math.abs(mean - 2) < 0.1 && Math.abs(sd - 3) < 0.1, `normal ${mean} ${sd}`);
    assert.deepEqual([...r.shuffle([5, 3, 9, 1])].sort(), [1, 3, 5, 9]);
    assert.ok([4, 5].includes(r.choice([4, 5])));
    assert.throws(() => r.int(0), RangeError);
    assert.throws(() => new Rng(1.5), TypeError);
  });

  it('keyed streams: each list of keys (its values, order and length) names its own stream', () => {
    const lists = [[3], [3, 0], [3, 0, 0], [3, 1], [1, 3], [3, 0x0d3e, 0], [3, 0x0d3e, 1], [3, 0xa06e, 0, 0], [3, 0xa06e, 0, 1], [3, 0xa06e, 1, 0], [4, 0xa06e, 0, 0], [-3], [2 ** 32 + 3]];
    const states = lists.map((keys) => JSON.stringify(new Rng(...keys).state()));
    assert.equal(new Set(states).size, lists.length, 'two key lists gave the same state');
    assert.deepEqual(new Rng(3, 0xa06e, 0, 1).state(), new Rng(3, 0xa06e, 0, 1).state());
    assert.throws(() => new Rng(), /at least one integer/);
    assert.throws(() => new Rng(1, 2.5), /rng key 1: expected a safe integer/);
  });

  it('the first draw of a seed depends on the seed (the old mixer gave every seed below 2^32 the same one)', () => {
    // First int(10) of seeds 0..4999 and of the batch streams (0, tag, 0, b): every value about
    // 500 times. The samplers' old mixer filled two of the four state words from the seed's high
    // half only, and pure-rand's first 32-bit output adds exactly those two words: 5 every time.
    for (const first of [(s: number) => new Rng(s).int(10), (b: number) => new Rng(0, 0xa06e, 0, b).int(10)]) {
      const counts = new Array<number>(10).fill(0);
      for (let s = 0; s < 5000; s++) counts[first(s)]!++;
      for (const c of counts) assert.ok(Math.abs(c - 500) < 5 * Math.sqrt(450), `first int(10) counts ${counts.join(' ')}`);
    }
  });

  it('draws exactly the committed streams (test/fixtures/rng-streams.json)', () => {
    // A change of generator or mixer must raise RNG_STREAMS (runs drawn with the old streams then
    // refuse --resume) and rewrite the fixture with the command it records.
    const fixture = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'rng-streams.json'), 'utf8')) as {
      rngStreams: number;
      command: string;
      streams: Array<{ keys: number[]; state: number[]; int1000: number[]; float: number[] }>;
    };
    assert.equal(fixture.rngStreams, RNG_STREAMS, `the fixture was written for other streams: ${fixture.command}`);
    assert.ok(fixture.streams.length >= 8);
    for (const s of fixture.streams) {
      const r = new Rng(...s.keys);
      assert.deepEqual(r.state().words, s.state, `state of keys ${JSON.stringify(s.keys)}`);
      assert.deepEqual(Array.from({ length: s.int1000.length }, () => r.int(1000)), s.int1000, `int draws of keys ${JSON.stringify(s.keys)}`);
      assert.deepEqual(Array.from({ length: s.float.length }, () => r.float()), s.float, `float draws of keys ${JSON.stringify(s.keys)}`);
    }
  });

  it('rngStreamsMismatch accepts this version only, and says why', () => {
    assert.equal(rngStreamsMismatch(RNG_STREAMS), null);
    assert.match(rngStreamsMismatch(undefined) ?? '', /no random-stream version .*this greedynas draws with version 2/);
    assert.match(rngStreamsMismatch(1) ?? '', /random-stream version 1, this greedynas draws with version 2/);
  });

  it('shuffles typed arrays as arrays, with the same draws', () => {
    const a = new Rng(9).shuffle(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
    const b = new Rng(9).shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(a instanceof Int32Array);
    assert.deepEqual(Array.from(a), b);
    assert.notDeepEqual(b, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('split() gives independent streams', () => {
    const r = new Rng(5);
    const s1 = r.split();
    const s2 = r.split();
    const a = Array.from({ length: 10 }, () => s1.int(1 << 30));
    const b = Array.from({ length: 10 }, () => s2.int(1 << 30));
    const c = Array.from({ length: 10 }, () => r.int(1 << 30));
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.notDeepEqual(b, c);
  });
});

describe('CandidatePool', () => {
  it('keeps the best `capacity` paths in ascending loss order', () => {
    const p = new CandidatePool({ capacity: 3 });
    assert.equal(p.push([0, 0], 0.5).status, 'added');
    assert.equal(p.push([0, 1], 0.2).status, 'added');
    assert.equal(p.push([0, 2], 0.9).status, 'added');
    assert.deepEqual(p.entries().map((e) => e.key), ['0-1', '0-0', '0-2']);
    const o = p.push([1, 1], 0.3); // better than the worst: evicts 0-2
    assert.deepEqual(o, { status: 'added', key: '1-1', evicted: '0-2' });
    assert.equal(p.push([2, 2], 0.95).status, 'rejected');
    assert.equal(p.push([2, 2], 0.5).status, 'rejected'); // ties do not displace
    assert.equal(p.size, 3);
    assert.deepEqual(p.entries().map((e) => [e.key, e.score]), [['0-1', 0.2], ['1-1', 0.3], ['0-0', 0.5]]);
    assert.equal(p.worst()?.key, '0-0');
    assert.deepEqual(p.best(2).map((e) => e.key), ['0-1', '1-1']);
  });

  it('de-duplicates by key; a re-scored path gets its new score and rank', () => {
    const p = new CandidatePool({ capacity: 10 });
    p.push([1, 2, 3], 0.4);
    p.push([3, 2, 1], 0.6);
    assert.deepEqual(p.push([1, 2, 3], 0.9), { status: 'updated', key: '1-2-3', evicted: null });
    assert.equal(p.size, 2);
    assert.equal(p.get('1-2-3')?.score, 0.9);
    assert.deepEqual(p.entries().map((e) => e.key), ['3-2-1', '1-2-3']);
    p.push([1, 2, 3], 0.1);
    assert.deepEqual(p.entries().map((e) => e.key), ['1-2-3', '3-2-1']);
    // an update when full never evicts
    const q = new CandidatePool({ capacity: 2 });
    q.push([0], 1);
    q.push([1], 2);
    assert.equal(q.push([1], 0.5).status, 'updated');
    assert.equal(q.size, 2);
    assert.throws(() => q.push([2], Number.NaN), /finite/);
  });

  it('keeps many entries sorted (random pushes against a reference)', () => {
    const r = new Rng(3);
    const p = new CandidatePool({ capacity: 50 });
    const ref = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const arch = [r.int(6), r.int(6), r.int(6)];
      const score = Math.round(r.float() * 100) / 100;
      const key = archKey(arch);
      const o = p.push(arch, score);
      if (ref.has(key)) ref.set(key, score);
      else if (o.status === 'added') {
        ref.set(key, score);
        if (o.evicted !== null) ref.delete(o.evicted);
      }
    }
    const e = p.entries();
    assert.equal(e.length, 50);
    for (let i = 1; i < e.length; i++) assert.ok((e[i - 1]?.score as number) <= (e[i]?.score as number));
    assert.deepEqual(new Map(e.map((x) => [x.key, x.score])), ref);
  });

  it('round-trips through JSON with its order and later behaviour', () => {
    const p = new CandidatePool({ capacity: 4 });
    for (const [a, s] of [[[0, 1], 0.3], [[1, 0], 0.3], [[2, 2], 0.1], [[1, 1], 0.7]] as const) p.push(a, s);
    const q = CandidatePool.fromJSON(roundTrip(p.toJSON()), { numLayers: 2, numChoices: 3 });
    assert.deepEqual(q.toJSON(), p.toJSON());
    for (const pool of [p, q]) {
      pool.push([0, 0], 0.3);
      pool.push([2, 1], 0.05);
    }
    assert.deepEqual(q.toJSON(), p.toJSON());
    assert.throws(() => CandidatePool.fromJSON({ version: 1, capacity: 4, entries: [{ arch: [0, 1], score: 2 }, { arch: [1, 1], score: 1 }] }), /sorted/);
    assert.throws(() => CandidatePool.fromJSON({ version: 1, capacity: 4, entries: [{ arch: [0, 1], score: 1 }, { arch: [0, 1], score: 2 }] }), /duplicate/);
    assert.throws(() => CandidatePool.fromJSON({ version: 1, capacity: 1, entries: [{ arch: [0], score: 1 }, { arch: [1], score: 2 }] }), /capacity/);
    assert.throws(() => CandidatePool.fromJSON({ version: 1, capacity: 4, entries: [{ arch: [0, 5], score: 1 }] }, { numLayers: 2, numChoices: 3 }), /entries\[0\]\.arch\[1\]/);
  });
});

describe('eps schedule', () => {
  it('is 0 until t0 = 10% of T, then linear to epsMax at T', () => {
    const s = new EpsSchedule({ totalIterations: 1000 });
    assert.equal(s.t0, 100);
    assert.deepEqual([0, 50, 100].map((t) => s.at(t)), [0, 0, 0]);
    assert.ok(Math.abs(s.at(550) - 0.4) < 1e-12);
    assert.ok(Math.abs(s.at(325) - 0.2) < 1e-12);
    assert.equal(s.at(1000), 0.8);
    assert.equal(s.at(5000), 0.8);
    const t = new EpsSchedule({ totalIterations: 200, epsStart: 0.1, epsMax: 0.5, t0: 0 });
    assert.ok(Math.abs(t.at(100) - 0.3) < 1e-12);
    assert.equal(EpsSchedule.constant(0.5).at(12345), 0.5);
    assert.throws(() => new EpsSchedule({ totalIterations: 10, epsMax: 1.5 }), /epsMax/);
  });
});

describe('stopping rule', () => {
  it('pi = |P_t ∩ P| / |P| over the paths that entered during the epoch', () => {
    const pool = new CandidatePool({ capacity: 4 });
    const rule = new StoppingRule({ alpha: 0.25 });
    const push = (a: number[], s: number): void => rule.observe(pool.push(a, s));
    push([0], 0.4);
    push([1], 0.5);
    push([2], 0.6);
    push([3], 0.7);
    assert.deepEqual(rule.endEpoch(pool), { epoch: 0, pi: 1, entered: 4, stillIn: 4, poolSize: 4, poolFull: true, stop: false });
    push([4], 0.1); // enters, evicts [3]
    push([0], 0.05); // re-scored: did not enter
    push([5], 0.9); // rejected
    assert.deepEqual(rule.endEpoch(pool), { epoch: 1, pi: 0.25, entered: 1, stillIn: 1, poolSize: 4, poolFull: true, stop: true });
    push([6], 0.2); // enters ...
    push([7], 0.15);
    push([8], 0.12);
    push([9], 0.11);
    push([10], 0.01);
    push([11], 0.02);
    const e = rule.endEpoch(pool);
    // pool: 10 (0.01), 11 (0.02), 0 (0.05), 4 (0.1); 6..9 entered and were evicted
    assert.deepEqual(pool.entries().map((x) => x.key), ['10', '11', '0', '4']);
    assert.deepEqual(e, { epoch: 2, pi: 0.5, entered: 6, stillIn: 2, poolSize: 4, poolFull: true, stop: false });
    assert.equal(rule.endEpoch(pool).pi, 0);
    assert.equal(rule.history.length, 4);
  });

  it('does not fire while the pool is filling, however low pi is', () => {
    const pool = new CandidatePool({ capacity: 100 });
    const rule = new StoppingRule({ alpha: 0.5 });
    for (let i = 0; i < 40; i++) rule.observe(pool.push([i], i));
    rule.endEpoch(pool);
    rule.observe(pool.push([40], 40)); // one new path of 41: pi = 1/41, far below alpha
    const e = rule.endEpoch(pool);
    assert.ok(e.pi < 0.05);
    assert.equal(e.poolFull, false);
    assert.equal(e.stop, false);
    for (let i = 41; i < 100; i++) rule.observe(pool.push([i], i));
    rule.endEpoch(pool); // fills: pi = 59/100
    const settled = rule.endEpoch(pool); // nothing entered in a full pool
    assert.deepEqual([settled.pi, settled.poolFull, settled.stop], [0, true, true]);
  });

  it('can be switched off (still measured) and saved', () => {
    const pool = new CandidatePool();
    const rule = new StoppingRule({ enabled: false });
    rule.observe(pool.push([0], 1));
    const e = rule.endEpoch(pool);
    assert.equal(e.pi, 1);
    assert.equal(rule.endEpoch(pool).stop, false);
    const r2 = new StoppingRule();
    assert.equal(r2.endEpoch(new CandidatePool()).pi, 1); // empty pool: no evidence of stability
    rule.observe(pool.push([1], 0.5));
    const saved = roundTrip(rule.state());
    const copy = new StoppingRule({ enabled: false });
    copy.restore(saved);
    assert.deepEqual(copy.endEpoch(pool), rule.endEpoch(pool));
  });
});

describe('FairSampler', () => {
  it('covers every choice of every layer exactly once per step', () => {
    const f = new FairSampler({ numLayers: 21, numChoices: 7 }, { seed: 1 });
    const seen = new Set<string>();
    for (let step = 0; step < 50; step++) {
      const paths = f.step();
      assert.equal(paths.length, 7);
      for (let l = 0; l < 21; l++) assert.deepEqual(paths.map((p) => p[l]).sort(), [0, 1, 2, 3, 4, 5, 6]);
      seen.add(paths.map(archKey).join('|'));
    }
    assert.equal(seen.size, 50); // steps differ
  });

  it('state()/restore() continues identically', () => {
    const f = new FairSampler({ numLayers: 5, numChoices: 4 }, { seed: 9 });
    f.step();
    const saved = roundTrip(f.state());
    const next = [f.step(), f.step()];
    const g = new FairSampler({ numLayers: 5, numChoices: 4 }, { seed: 0 });
    g.restore(saved);
    assert.deepEqual([g.step(), g.step()], next);
    assert.equal(g.stepsTaken, 3);
  });
});

describe('UniformSampler', () => {
  const fm = loadSpace('fmnist');
  const costs = costTable(fm);

  it('is uniform per layer without constraints', () => {
    const u = new UniformSampler({ numLayers: 3, numChoices: 5 }, { seed: 2 });
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[u.sample()[1] as number]!++;
    for (const c of counts) assert.ok(Math.abs(c - 2000) < 200, `count ${c}`);
  });

  it('respects the FLOPs budget and stays uniform over the valid paths (brute force, 2401 paths)', () => {
    const small = resolveSpace(smallSpace());
    const t = costTable(small);
    const all: number[] = [];
    for (let i = 0; i < 2401; i++) all.push(t.archFlops([i % 7, Math.floor(i / 7) % 7, Math.floor(i / 49) % 7, Math.floor(i / 343)]));
    const budget = [...all].sort((a, b) => a - b)[700] as number;
    const valid = all.filter((f) => f <= budget);
    const mean = valid.reduce((a, b) => a + b, 0) / valid.length;
    const sd = Math.sqrt(valid.reduce((a, b) => a + (b - mean) ** 2, 0) / valid.length);
    const u = new UniformSampler(t, { seed: 4, costs: t, constraints: { flops: budget } });
    let sum = 0;
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const f = t.archFlops(u.sample());
      assert.ok(f <= budget);
      sum += f;
    }
    assert.ok(Math.abs(sum / N - mean) < (4 * sd) / Math.sqrt(N), `mean ${sum / N} vs ${mean}`);
    assert.ok(u.stats.tries > u.stats.draws);
  });

  it('fails clearly on an infeasible or too tight budget, and when tries run out', () => {
    assert.throws(() => new UniformSampler(costs, { seed: 1, costs, constraints: { flops: costs.minFlops - 1 } }), (e: unknown) => e instanceof ConstraintError && e.code === 'INFEASIBLE' && /FLOPs budget/.test(e.message));
    assert.throws(() => new UniformSampler(costs, { seed: 1, costs, constraints: { flops: { min: 5e6, max: 4e6 } } }), (e: unknown) => e instanceof ConstraintError && e.code === 'INFEASIBLE');
    const tight = new FlopsHistogram(costs).quantile(0.0005);
    assert.throws(() => new UniformSampler(costs, { seed: 1, costs, maxTries: 1000, constraints: { flops: tight } }), (e: unknown) => e instanceof ConstraintError && e.code === 'TOO_TIGHT' && /raise maxTries/.test(e.message));
    const ok = new UniformSampler(costs, { seed: 1, costs, maxTries: 1_000_000, constraints: { flops: tight } });
    assert.ok(costs.archFlops(ok.sample()) <= tight);
    const never = new UniformSampler(costs, { seed: 1, costs, maxTries: 50, constraints: { check: () => false } });
    assert.throws(() => never.sample(), (e: unknown) => e instanceof ConstraintError && e.code === 'TRIES_EXHAUSTED' && /by the hook 50/.test(e.message));
    assert.throws(() => new UniformSampler(costs, { seed: 1, constraints: { flops: 1e7 } }), /cost table/);
  });

  it('applies the constraint hook', () => {
    const u = new UniformSampler(costs, { seed: 5, costs, constraints: { flops: 12e6, check: (a) => a[0] !== 6 && a[12] === 1 } });
    for (let i = 0; i < 300; i++) {
      const a = u.sample();
      assert.ok(a[0] !== 6 && a[12] === 1 && costs.archFlops(a) <= 12e6);
    }
  });

  it('FLOPs bins spread draws evenly over the FLOPs range', () => {
    const u = new UniformSampler(costs, { seed: 6, costs, bins: { count: 4, min: 7e6, max: 15e6 }, constraints: { flops: 14e6 } });
    assert.deepEqual(u.bins?.map((b) => [b.min, b.max]), [[7e6, 8.75e6], [8.75e6, 10.5e6], [10.5e6, 12.25e6], [12.25e6, 14e6]]);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const f = costs.archFlops(u.sample());
      assert.ok(f >= 7e6 && f <= 14e6);
      counts[Math.min(3, Math.floor((f - 7e6) / 1.75e6))]!++;
    }
    for (const c of counts) assert.ok(Math.abs(c - 1000) < 130, `bin count ${c}`);
  });

  it('state()/restore() continues identically', () => {
    const u = new UniformSampler(costs, { seed: 8, costs, constraints: { flops: 10e6 } });
    for (let i = 0; i < 13; i++) u.sample();
    const saved = roundTrip(u.state());
    const next = Array.from({ length: 20 }, () => u.sample());
    const v = new UniformSampler(costs, { seed: 99, costs, constraints: { flops: 10e6 } });
    v.restore(saved);
    assert.deepEqual(Array.from({ length: 20 }, () => v.sample()), next);
    assert.deepEqual(v.stats, u.stats);
  });
});


describe('greedy sampling: the slides\' numbers', () => {
  it('exact binomial tails: 83.38% (q = 0.6) and 99.36% (eps = 0.5, q_eff = 0.8)', () => {
    assert.equal((100 * binomialTail(10, 5, 0.6)).toFixed(2), '83.38');
    assert.equal(effectiveGoodShare(0.5, 0.6), 0.8);
    assert.equal((100 * binomialTail(10, 5, effectiveGoodShare(0.5, 0.6))).toFixed(2), '99.36');
    assert.ok(Math.abs(binomialTail(10, 5, 0.6) - 0.8337613824) < 1e-12);
    assert.ok(Math.abs(binomialTail(10, 5, 0.8) - 0.9936306176) < 1e-12);
    assert.ok(Math.abs(binomialTail(10, 0, 0.3) - 1) < 1e-12);
  });

  // Synthetic space: 12 layers x 5 choices; a path is good iff its first choice is < 3, so
  // exactly q = 0.6 of the space is good. Good paths have lower losses than weak ones.
  const shape: ArchSpace = { numLayers: 12, numChoices: 5 };
  const isGood = (a: readonly number[]): boolean => (a[0] as number) < 3;
  const score: LossScorer = async (archs) => archs.map((a) => (isGood(a) ? 0 : 1) + (a[1] as number) * 1e-3);
  const ROUNDS = 20_000;

  async function simulate(sampler: GreedySampler): Promise<{ allKeptGood: number; fromPool: number }> {
    let allKeptGood = 0;
    let fromPool = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const { kept, record } = await sampler.round(score);
      const drawnGood = record.paths.filter((k) => isGood(k.split('-').map(Number))).length;
      const keptGood = kept.filter(isGood).length;
      assert.equal(keptGood, Math.min(5, drawnGood)); // top-k keeps the good ones
      if (keptGood === 5) allKeptGood++;
      fromPool += record.fromPool.filter((x) => x).length;
    }
    return { allKeptGood: allKeptGood / ROUNDS, fromPool: fromPool / (ROUNDS * 10) };
  }

  it('simulation, uniform draws (no pool): P(>= 5 good of 10) matches 83.38% within Monte Carlo error', async () => {
    const g = new GreedySampler({ seed: 11, uniform: new UniformSampler(shape, { seed: 12 }), usePool: false });
    const r = await simulate(g);
    const p = binomialTail(10, 5, 0.6);
    assert.equal(r.fromPool, 0);
    assert.ok(Math.abs(r.allKeptGood - p) < 4 * Math.sqrt((p * (1 - p)) / ROUNDS), `simulated ${r.allKeptGood} vs ${p}`);
  });

  it('simulation, eps = 0.5 from a pool of good paths: matches 99.36% within Monte Carlo error', async () => {
    const pool = new CandidatePool();
    const r0 = new Rng(13);
    while (pool.size < 1000) pool.push([r0.int(3), ...Array.from({ length: 11 }, () => r0.int(5))], 0.5);
    const g = new GreedySampler({ seed: 14, uniform: new UniformSampler(shape, { seed: 15 }), pool, eps: EpsSchedule.constant(0.5) });
    const r = await simulate(g);
    const p = binomialTail(10, 5, 0.8);
    assert.ok(pool.entries().every((e) => isGood(e.arch)));
    assert.ok(Math.abs(r.fromPool - 0.5) < 4 * Math.sqrt(0.25 / (ROUNDS * 10)), `pool share ${r.fromPool}`);
    assert.ok(Math.abs(r.allKeptGood - p) < 4 * Math.sqrt((p * (1 - p)) / ROUNDS), `simulated ${r.allKeptGood} vs ${p}`);
    assert.ok(r.allKeptGood > binomialTail(10, 5, 0.6) + 0.1);
  });
});

describe('GreedySampler', () => {
  const fm = loadSpace('fmnist');
  const costs = costTable(fm);
  const loss = (a: readonly number[]): number => a.reduce((s, c, l) => s + ((c * 7 + l * 3) % 11), 0) / 100;
  const scorer = (calls: Arch[][]): LossScorer => async (archs) => {
    calls.push(archs);
    return archs.map(loss);
  };
  const make = (seed: number, extra: Partial<ConstructorParameters<typeof GreedySampler>[0]> = {}): GreedySampler =>
    new GreedySampler({ seed, uniform: new UniformSampler(costs, { seed: seed + 1, costs, constraints: { flops: 11e6 } }), eps: { totalIterations: 200 }, ...extra });

  it('one round: m distinct paths under the budget, one scorer call, the k best kept and pooled', async () => {
    const calls: Arch[][] = [];
    const g = make(1);
    const { kept, record } = await g.round(scorer(calls));
    assert.equal(calls.length, 1);
    const drawn = calls[0] as Arch[];
    assert.equal(drawn.length, 10);
    assert.equal(new Set(drawn.map(archKey)).size, 10);
    for (const a of drawn) assert.ok(costs.archFlops(a) <= 11e6);
    const best = [...drawn].sort((a, b) => loss(a) - loss(b)).slice(0, 5);
    assert.deepEqual(kept.map(loss), best.map(loss));
    assert.deepEqual(record.kept.map((i) => record.paths[i]), kept.map(archKey));
    assert.deepEqual(record.fromPool, new Array(10).fill(false)); // empty pool, and eps(0) = 0
    assert.equal(record.eps, 0);
    assert.deepEqual([record.poolSizeBefore, record.poolSize, record.entered], [0, 5, 5]);
    assert.deepEqual(g.pool.entries().map((e) => e.key), kept.map(archKey));
    assert.equal(g.iteration, 5);
    assert.deepEqual(roundTrip(record), record);
  });

  it('draws from the pool with probability eps once it has entries; never with usePool false', async () => {
    const calls: Arch[][] = [];
    const g = make(2, { eps: EpsSchedule.constant(0.8) });
    let pooled = 0;
    let total = 0;
    const records: RoundRecord[] = [];
    for (let i = 0; i < 200; i++) {
      const before = g.pool.keys();
      const r = (await g.round(scorer(calls))).record;
      records.push(r);
      r.paths.forEach((k, j) => {
        if (r.fromPool[j]) assert.ok(before.has(k), `path ${k} marked as drawn from the pool was not in it`);
      });
    }
    assert.deepEqual(records[0]?.fromPool, new Array(10).fill(false));
    for (const r of records.slice(1)) {
      pooled += r.fromPool.filter((x) => x).length;
      total += 10;
    }
    assert.ok(Math.abs(pooled / total - 0.8) < 0.05, `pool share ${pooled / total}`);
    const h = make(3, { usePool: false, eps: undefined });
    for (let i = 0; i < 20; i++) assert.ok((await h.round(scorer(calls))).record.fromPool.every((x) => !x));
  });

  it('follows the eps schedule over iterations', async () => {
    const g = make(4, { eps: { totalIterations: 100, t0: 20 } });
    const eps: number[] = [];
    for (let i = 0; i < 25; i++) eps.push((await g.round(scorer([]))).record.eps);
    assert.deepEqual(eps.slice(0, 5), [0, 0, 0, 0, 0]); // iterations 0..20
    assert.ok(Math.abs((eps[12] as number) - (0.8 * (60 - 20)) / 80) < 1e-12); // iteration 60
    assert.equal(eps[24], 0.8);
  });

  it('warm-up: the first warmupIterations iterations are uniform paths, never scored', async () => {
    const calls: Arch[][] = [];
    const g = make(8, { warmupIterations: 12, eps: { totalIterations: 100, t0: 12 } });
    const rounds: RoundRecord[] = [];
    const trained: Arch[] = [];
    for (let i = 0; i < 12; i++) trained.push(await g.next(scorer(calls), (r) => rounds.push(r)));
    assert.equal(calls.length, 0);
    assert.equal(rounds.length, 0);
    assert.equal(g.pool.size, 0);
    assert.ok(trained.every((a) => costs.archFlops(a) <= 11e6));
    assert.ok(new Set(trained.map(archKey)).size > 6); // uniform draws, not one path
    await g.next(scorer(calls), (r) => rounds.push(r));
    assert.equal(calls.length, 1);
    assert.equal(rounds[0]!.iteration, 12);
    assert.equal(rounds[0]!.eps, 0); // eps starts its ramp at the end of the warm-up
    for (let i = 0; i < 5; i++) await g.next(scorer(calls), (r) => rounds.push(r)); // the 4 queued, then round 2
    assert.equal(rounds.length, 2);
    assert.ok(rounds[1]!.eps > 0);
  });

  it('a drawn pool path gets its new score whether it is kept or rejected', async () => {
    const pool = new CandidatePool({ capacity: 50 });
    const g = make(9, { pool, eps: EpsSchedule.constant(1) });
    let scale = 1;
    const drift: LossScorer = async (archs) => archs.map((a) => loss(a) * scale);
    await g.round(drift); // empty pool: 10 uniform draws, 5 kept
    scale = 3; // every path got worse: a re-scored path must show it
    const before = pool.keys();
    const { record } = await g.round(drift); // eps 1: all 10 drawn from the pool (distinct draws fall back to the space)
    const rescoredKeys = record.paths.filter((_, i) => record.fromPool[i]);
    assert.ok(rescoredKeys.length >= 5);
    for (const k of rescoredKeys) assert.equal(pool.get(k)!.score, loss(parseArchKey(k)) * 3, `stale score for ${k}`);
    const rejectedInPool = record.paths.filter((k, i) => !record.kept.includes(i) && pool.has(k));
    assert.ok(rejectedInPool.length > 0, 'the test needs a rejected pool path');
    assert.equal(record.rescored, record.paths.filter((k) => before.has(k)).length);
  });

  it('rejects bad scorer output', async () => {
    const g = make(5);
    await assert.rejects(g.round(async (a) => a.map(() => 1).slice(1)), /returned 9 scores for 10 paths/);
    await assert.rejects(g.round(async (a) => a.map((_, i) => (i === 3 ? Number.NaN : 1))), /losses must be finite/);
    const ok = await g.round(scorer([]));
    assert.equal(ok.kept.length, 5);
  });

  it('state()/restore() continues identically (mid-queue, across an epoch end)', async () => {
    const g = make(6, { eps: { totalIterations: 60 } });
    const calls: Arch[][] = [];
    for (let i = 0; i < 37; i++) await g.next(scorer(calls));
    g.endEpoch();
    assert.equal(g.queued.length, 3);
    const saved = roundTrip(g.state());
    const run = async (s: GreedySampler): Promise<unknown[]> => {
      const out: unknown[] = [];
      const recs: RoundRecord[] = [];
      for (let e = 0; e < 3; e++) {
        for (let i = 0; i < 23; i++) out.push(await s.next(scorer([]), (r) => recs.push(r)));
        out.push(s.endEpoch());
      }
      return [out, recs, s.pool.toJSON(), s.state()];
    };
    const h = make(77, { eps: { totalIterations: 60 } });
    const poolRef = h.pool;
    h.restore(saved);
    assert.equal(h.pool, poolRef); // restored in place
    const a = await run(g);
    const b = await run(h);
    assert.deepEqual(b, a);
    assert.ok((a[0] as unknown[]).length > 0);
  });
});
