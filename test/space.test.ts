// Space files: presets, loading errors, validation naming the field, and the description.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { costTable } from '../src/space/cost.js';
import { describeSpace, formatDescription } from '../src/space/describe.js';
import { FlopsHistogram } from '../src/space/histogram.js';
import { listPresets, loadSpace, loadSpaceFile, locateJsonError, SpaceLoadError } from '../src/space/presets.js';
import { resolveSpace, SpaceError } from '../src/space/resolve.js';
import { SEVEN_OPS, smallSpace } from './helpers/spaces.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'gnas-space-'));
function writeTmp(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}

describe('presets', () => {
  it('lists and loads every preset', () => {
    const names = listPresets();
    for (const n of ['greedynas-imagenet', 'greedynas-imagenet-w32', 'greedynas-imagenet-se', 'fmnist', 'cifar']) assert.ok(names.includes(n), `preset ${n}`);
    for (const n of names) assert.equal(loadSpace(n).name, n);
  });

  it('ImageNet space of the paper: 21 layers x 7 ops, stem 32 s2, fixed k3e1 -> 16, head 1280', () => {
    const s = loadSpace('greedynas-imagenet');
    assert.equal(s.layers.length, 21);
    assert.deepEqual(s.opNames, SEVEN_OPS);
    assert.deepEqual([s.input.height, s.input.width, s.input.channels, s.classes, s.activation], [224, 224, 3, 1000, 'relu6']);
    assert.deepEqual([s.stem.cout, s.stem.stride, s.stem.outHeight], [32, 2, 112]);
    assert.equal(s.fixed.length, 1);
    assert.deepEqual([s.fixed[0]?.ops[0]?.name, s.fixed[0]?.cout], ['k3e1', 16]);
    assert.deepEqual(
      s.layers.map((l) => `${l.cout}/${l.stride}`),
      ['24/2', '24/1', '24/1', '24/1', '40/2', '40/1', '40/1', '40/1', '80/2', '80/1', '80/1', '80/1', '96/1', '96/1', '96/1', '96/1', '192/2', '192/1', '192/1', '192/1', '320/1'],
    );
    assert.equal(s.head.height, 7);
    assert.deepEqual([s.head.cout, s.fc.classes], [1280, 1000]);
    // id is a strided 1x1 conv at reductions, a parameter-free skip elsewhere
    assert.equal(s.layers[0]?.ops[6]?.kind, 'conv1x1');
    assert.equal(s.layers[12]?.ops[6]?.kind, 'conv1x1'); // 80 -> 96, stride 1
    assert.equal(s.layers[1]?.ops[6]?.kind, 'skip');
    const w32 = loadSpace('greedynas-imagenet-w32');
    assert.deepEqual(w32.layers.slice(0, 5).map((l) => l.cout), [32, 32, 32, 32, 40]);
  });

  it('SE op set: 13 choices, the 6 MBConvs, the same with SE, then id', () => {
    const s = loadSpace('greedynas-imagenet-se');
    assert.equal(s.opNames.length, 13);
    assert.deepEqual(s.opNames.slice(6, 12), SEVEN_OPS.slice(0, 6).map((o) => `${o}_se`));
    assert.equal(s.opNames[12], 'id');
    const op = s.layers[0]?.ops[7];
    assert.ok(op?.se);
    assert.equal(op?.seWidth, Math.floor((16 * 6) / 4));
  });

  it('small presets keep the 7 choices, >= 12 layers, and a path of ~5-15M multiply-adds on average', () => {
    for (const [name, h, c] of [
      ['fmnist', 28, 1],
      ['cifar', 32, 3],
    ] as const) {
      const s = loadSpace(name);
      assert.deepEqual([s.input.height, s.input.width, s.input.channels, s.classes], [h, h, c, 10]);
      assert.deepEqual(s.opNames, SEVEN_OPS);
      assert.ok(s.layers.length >= 12);
      const mean = new FlopsHistogram(costTable(s)).meanFlops;
      assert.ok(mean >= 5e6 && mean <= 15e6, `${name}: mean path ${mean}`);
    }
  });

  it('loads a file by path', () => {
    const f = writeTmp('ok.json', JSON.stringify(smallSpace()));
    const loaded = loadSpaceFile(f);
    assert.equal(loaded.path, f);
    assert.equal(loaded.preset, null);
    assert.equal(loaded.space.layers.length, 4);
    assert.equal(loadSpaceFile('fmnist').preset, 'fmnist');
  });

  it('names what is missing', () => {
    assert.throws(
      () => loadSpace('no-such-preset'),
      (e: unknown) => e instanceof SpaceLoadError && e.code === 'ENOENT' && /no preset space named 'no-such-preset'/.test(e.message) && /fmnist/.test(e.message),
    );
    const missing = path.join(tmp, 'missing.json');
    assert.throws(() => loadSpace(missing), (e: unknown) => e instanceof SpaceLoadError && e.code === 'ENOENT' && e.message.includes(missing));
  });

  it('reports bad JSON with line and column', () => {
    const f = writeTmp('bad.json', '{\n  "name": "x",\n  "classes": 10,\n}\n');
    assert.throws(
      () => loadSpace(f),
      (e: unknown) => e instanceof SpaceLoadError && e.code === 'EJSON' && e.line === 4 && e.column === 1 && /trailing comma/.test(e.message) && e.message.includes(f),
    );
    const g = writeTmp('bad2.json', '{"name": "x", "classes": 10 "head": 1}');
    assert.throws(() => loadSpace(g), (e: unknown) => e instanceof SpaceLoadError && e.line === 1 && e.column === 29);
  });

  it('a field error from a file names the field and the file', () => {
    const sp = smallSpace() as unknown as Record<string, unknown>;
    (sp.stages as Array<Record<string, unknown>>)[1]!.stride = 3;
    const f = writeTmp('field.json', JSON.stringify(sp));
    assert.throws(() => loadSpace(f), (e: unknown) => e instanceof SpaceError && e.field === 'space.stages[1].stride' && e.message.includes(f) && /expected 1 or 2, got 3/.test(e.message));
  });
});

describe('space validation names the field', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Edit = (s: Record<string, any>) => void;
  const cases: Array<[string, Edit]> = [
    ['space.stages[1].stride', (s) => (s.stages[1].stride = 3)],
    ['space.stages[0].layers', (s) => (s.stages[0].layers = 0)],
    ['space.stages[0].layer', (s) => (s.stages[0].layer = 2)],
    ['space.stages', (s) => (s.stages = [])],
    ['space.ops[2]', (s) => (s.ops[2] = 'k4e3')],
    ['space.ops[1]', (s) => (s.ops[1] = 'conv')],
    ['space.ops', (s) => (s.ops = ['k3e3', 'k3e3'])],
    ['space.ops', (s) => delete s.ops],
    ['space.classes', (s) => (s.classes = 1)],
    ['space.classes', (s) => (s.classes = 2.5)],
    ['space.head', (s) => delete s.head],
    ['space.head.width', (s) => (s.head.width = -1)],
    ['space.input', (s) => delete s.input],
    ['space.input.channels', (s) => (s.input.channels = 0)],
    ['space.activation', (s) => (s.activation = 'gelu')],
    ['space.seRatio', (s) => (s.seRatio = 2)],
    ['space.seRation', (s) => (s.seRation = 0.5)],
    ['space.stem.stride', (s) => (s.stem.stride = 4)],
    ['space.stem.kernel', (s) => (s.stem.kernel = 4)],
    ['space.fixedBlocks[0].se', (s) => (s.fixedBlocks[0].se = 'yes')],
    ['space.fixedBlocks[0].kernel', (s) => (s.fixedBlocks[0].kernel = 1)],
    ['space.normalization.mean', (s) => (s.normalization = { mean: [0.5, 0.5], std: [0.2] })],
    ['space.normalization.std', (s) => (s.normalization = { mean: [0.5], std: [0] })],
    ['space.bn.eps', (s) => (s.bn = { eps: 0 })],
    ['space.name', (s) => (s.name = 5)],
  ];
  for (const [field, edit] of cases) {
    it(`${field}: ${edit.toString().replace(/^\(s\) => /, '')}`, () => {
      const s = structuredClone(smallSpace()) as unknown as Record<string, unknown>;
      edit(s);
      assert.throws(() => resolveSpace(s), (e: unknown) => e instanceof SpaceError && e.field === field && e.message.startsWith(`${field}: `));
    });
  }
  it('rejects non-objects', () => {
    assert.throws(() => resolveSpace([]), (e: unknown) => e instanceof SpaceError && e.field === 'space');
  });
  it('accepts the base space and documentation fields', () => {
    const s = { ...smallSpace(), description: 'doc', comment: 'note' };
    assert.equal(resolveSpace(s).layers.length, 4);
  });
});

describe('JSON error locator', () => {
  it('finds the offending position', () => {
    assert.equal(locateJsonError('{"a": 1}'), null);
    assert.equal(locateJsonError(' [1, 2.5e-3, "x\\u00e9", true, null, {"b": []}] '), null);
    assert.deepEqual(locateJsonError('{"a":}')?.offset, 5);
    assert.deepEqual(locateJsonError('[1,2')?.offset, 4);
    assert.deepEqual(locateJsonError('{"a": 01}')?.offset, 7);
    assert.deepEqual(locateJsonError('{"a": "x\ny"}')?.offset, 8);
    assert.deepEqual(locateJsonError('{a: 1}')?.offset, 1);
    assert.deepEqual(locateJsonError('[1] 2')?.offset, 4);
  });

  it('agrees with JSON.parse on validity (random edits of a space file)', () => {
    const text = JSON.stringify(smallSpace(), null, 2);
    const alphabet = ['{', '}', '[', ']', ',', ':', '"', '0', '-', '.', 'e', 't', ' ', '\\', 'x'];
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let invalid = 0;
    for (let i = 0; i < 2000; i++) {
      const pos = rand(text.length);
      const edit = rand(3);
      const ch = alphabet[rand(alphabet.length)] as string;
      const t = edit === 0 ? text.slice(0, pos) + text.slice(pos + 1) : edit === 1 ? text.slice(0, pos) + ch + text.slice(pos) : text.slice(0, pos) + ch + text.slice(pos + 1);
      let ok = true;
      try {
        JSON.parse(t);
      } catch {
        ok = false;
        invalid++;
      }
      assert.equal(locateJsonError(t) === null, ok, `disagreement on ${JSON.stringify(t)}`);
    }
    assert.ok(invalid > 500);
  });
});

describe('describe', () => {
  it('counts the space exactly and brackets the share under a budget', () => {
    const s = loadSpace('greedynas-imagenet');
    const d = describeSpace(s, { flopsBudget: 330e6 });
    assert.equal(d.size.exact, (7n ** 21n).toString());
    assert.equal(d.size.power, '7^21');
    assert.equal(d.layers.length, 1 + 1 + 21 + 2);
    assert.ok(d.flops.min < d.flops.mean && d.flops.mean < d.flops.max);
    const sh = d.budget?.share;
    assert.ok(sh !== undefined && sh.lower <= sh.upper && sh.lower > 0 && sh.upper < 1 && sh.upper - sh.lower < 0.01);
    const text = formatDescription(d);
    assert.match(text, /paths: 7\^21 = 558545864083284007/);
    assert.match(text, /layers\.20 +192->320/);
    assert.match(text, /paths with FLOPs <= 330\.00M/);
  });

  it('the histogram bracket holds the exact share (brute force on a small space)', () => {
    const sp = smallSpace();
    sp.stages = [{ width: 24, layers: 2, stride: 2 }, { width: 40, layers: 2, stride: 2 }];
    const s = resolveSpace(sp);
    const t = costTable(s);
    const all: number[] = [];
    for (let i = 0; i < 7 ** 4; i++) all.push(t.archFlops([i % 7, Math.floor(i / 7) % 7, Math.floor(i / 49) % 7, Math.floor(i / 343)]));
    const coarse = new FlopsHistogram(t, 64);
    const fine = new FlopsHistogram(t, 1 << 24); // bucket width 1: exact
    assert.equal(fine.bucketWidth, 1);
    assert.ok(coarse.bucketWidth > 1);
    const sorted = [...all].sort((a, b) => a - b);
    for (const q of [0.05, 0.3, 0.5, 0.77, 0.95]) {
      const budget = sorted[Math.floor(q * sorted.length)] as number;
      for (const range of [{ max: budget }, { min: budget }, { min: budget - 2e5, max: budget + 3e5 }]) {
        const exact = all.filter((f) => (range.min === undefined || f >= range.min) && (range.max === undefined || f <= range.max)).length / all.length;
        const c = coarse.share(range);
        assert.ok(c.lower <= exact + 1e-12 && exact <= c.upper + 1e-12, `coarse ${JSON.stringify(c)} vs ${exact}`);
        const f = fine.share(range);
        assert.ok(Math.abs(f.lower - exact) < 1e-12 && Math.abs(f.upper - exact) < 1e-12, `fine ${JSON.stringify(f)} vs ${exact}`);
      }
    }
    assert.ok(Math.abs(coarse.meanFlops - all.reduce((a, b) => a + b, 0) / all.length) < 1e-3);
  });
});
