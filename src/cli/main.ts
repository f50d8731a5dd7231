// `greedynas <command> [options]` (`node dist/run.js` from a checkout): the commands users run,
// each with --help.
//   train-supernet  train the supernet with the chosen sampler (checkpoints, resume)
//   search          evolutionary/random search on the trained supernet
//   retrain         train the chosen path from scratch, report test accuracy
//   run             all stages in order, then ONNX export, parity and latency profile
//   describe        a space: layers, choices, size, FLOPs range, share under a budget
//   backends        the compute backends built and usable here (CPU ISA, CUDA devices)
//   export          one path to ONNX (with parity check)       profile   latency of an ONNX model
// Every check that can refuse a command runs before it writes anything (src/pipeline/preflight.ts);
// a command accepts only the options it uses, and a mistyped command or option gets the closest
// names (src/cli/suggest.ts). Help and usage text: src/cli/help.ts.
// Exit status: 0 success, 1 failure, 2 usage or configuration error, 130 interrupted (Ctrl-C).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { TruthFileError } from '../analysis/truth-file.js';
import { probeBackends } from '../native/engine.js';
import { applyObject, checkConfig, ConfigError, DEFAULTS } from '../pipeline/config.js';
import type { PathChoice } from '../pipeline/path-sets.js';
import { requireOnnxRuntime } from '../pipeline/preflight.js';
import { describeRank } from '../pipeline/rank.js';
import { Interrupted, readRunRecord } from '../pipeline/run-dir.js';
import {
  exportWorkflow,
  rankWorkflow,
  retrainWorkflow,
  runWorkflow,
  searchWorkflow,
  trainSupernetWorkflow,
  truthWorkflow,
  writeRankFiles,
  type WorkflowOptions,
  type WriterOptions,
} from '../pipeline/workflows.js';
import { describeSpace, formatDescription } from '../space/describe.js';
import { loadSpace } from '../space/presets.js';
import { stamped } from '../util/progress.js';
import { SWITCH_FLAGS, VALUE_FLAGS, type Command, type Flags } from './command.js';
import { commandHelp, invokedName, usage, versionText } from './help.js';
import { applyOptions, isSwitchOption, loadConfigFile, OPTION_NAMES } from './options.js';
import { profileCommand } from './profile-command.js';
import { didYouMean } from './suggest.js';

/** How an image folder is read (src/data/folder-stream.ts); every command that opens --data takes them. */
const FOLDER_OPTIONS = ['data-mode', 'stream-cache'];
const DATA_OPTIONS = ['space', 'data', ...FOLDER_OPTIONS, 'out', 'seed', 'threads', 'gpus', 'math', 'val-fraction', 'train-per-class', 'val-images', 'm', 'k', 'batch'];
const TRAIN_OPTIONS = ['space', 'data', ...FOLDER_OPTIONS, 'out', 'seed', 'threads', 'gpus', 'math', 'score-math', 'sampler', 'epochs', 'batch', 'lr', 'warmup-epochs', 'momentum', 'nesterov', 'weight-decay', 'label-smoothing', 'val-fraction', 'train-per-class', 'flip', 'checkpoint-every', 'max-loss', 'm', 'k', 'pool-size', 'eps-max', 'greedy-warmup', 'alpha', 'use-pool', 'stopping', 'val-images', 'redraw-scoring-batch', 'flops-bins', 'flops-max', 'params-max', 'latency-max'];
const SEARCH_OPTIONS = [...DATA_OPTIONS, 'score-math', 'flops-max', 'params-max', 'latency-max', 'searcher', 'population', 'generations', 'search-images', 'search-init', 'compare-init', 'search-bn', 'calibration-images'];
const RETRAIN_OPTIONS = ['space', 'data', ...FOLDER_OPTIONS, 'out', 'seed', 'threads', 'gpus', 'math', 'val-fraction', 'train-per-class', 'retrain-epochs', 'retrain-lr', 'retrain-batch', 'warmup-epochs', 'momentum', 'nesterov', 'weight-decay', 'label-smoothing', 'flip', 'max-loss'];

/** Commands that continue a run in --out and so start from its config.json. */
const RUN_READERS = new Set(['search', 'retrain', 'rank', 'export']);
/** Commands that write a run: they refuse a run directory in --out unless --resume (then its config.json is their base) or --force. */
const RUN_WRITERS = new Set(['train-supernet', 'run', 'truth']);
const WRITER_FLAGS = {
  force: 'a run already in --out is moved into <out>/.replaced-<time>/ (nothing is deleted) and a new one starts',
  'allow-change': "with --resume: continue although settings differ from the run's config.json (space, sampler, seed, batch, m, k, epochs, lr, greedy-warmup, train-per-class, val-fraction, threads)",
};

// Log lines carry the time of day (stamped); results a command prints as its answer (describe,
// backends, help, the rank table, a latency profile) and error messages do not.
const say = (text: string) => console.log(stamped(text));
const print = (text: string) => console.log(text);
const warn = (line: string) => console.error(line);
const warnLog = (line: string) => console.error(stamped(line));

/** What the workflows of src/pipeline/workflows.ts take from the flags. */
const reader = (flags: Flags): WorkflowOptions => ({ log: say, warn: warnLog, quiet: flags.quiet });
const writer = (flags: Flags): WriterOptions => ({ ...reader(flags), resume: flags.resume, force: flags.force, allowChange: flags.allowChange });
const pathChoice = (flags: Flags): PathChoice => ({ archs: flags.archs, sample: flags.sample, all: flags.all });

function positiveFlag(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`--${name}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return v;
}

const COMMANDS: Record<string, Command> = {
  'train-supernet': {
    summary: 'train the weight-sharing supernet with the uniform, fair or greedy sampler',
    options: TRAIN_OPTIONS,
    extra: { resume: "continue from the newest checkpoint in --out, with the run's settings (its config.json)", ...WRITER_FLAGS },
    async run(config, flags) {
      await trainSupernetWorkflow(config, writer(flags));
    },
  },
  search: {
    summary: 'search paths of a trained supernet (in --out) under FLOPs/params/latency constraints; writes search.json and arch.json',
    options: SEARCH_OPTIONS,
    async run(config, flags) {
      await searchWorkflow(config, reader(flags));
    },
  },
  retrain: {
    summary: 'retrain a path from scratch on the full training set and report its test accuracy; writes arch.json and retrain-metrics.csv',
    options: RETRAIN_OPTIONS,
    extra: { arch: 'the path: a key (0-3-6-1-...) or an arch.json file (default: the best of search.json in --out)', resume: 'continue from the newest retrain checkpoint' },
    async run(config, flags) {
      await retrainWorkflow(config, { ...reader(flags), resume: flags.resume, arch: flags.arch });
    },
  },
  run: {
    summary: 'all stages in order: train-supernet, search, retrain, export + parity + latency profile',
    options: [...new Set([...TRAIN_OPTIONS, ...SEARCH_OPTIONS, ...RETRAIN_OPTIONS, 'compare-random', 'export'])],
    extra: { resume: "continue an interrupted run from its newest checkpoints, with the run's settings (its config.json)", ...WRITER_FLAGS },
    async run(config, flags) {
      await runWorkflow(config, writer(flags));
    },
  },
  truth: {
    summary: 'stand-alone ground truth: train paths from scratch (retraining recipe), write truth.json for `rank --truth`',
    options: RETRAIN_OPTIONS.concat(['flops-max', 'params-max']),
    extra: {
      archs: 'FILE of paths (one key per line, or a JSON list)',
      sample: 'N: a seeded uniform sample of N paths under the budget',
      all: 'every path (spaces of at most 100k paths)',
      'truth-seeds': 'N: trainings per path, averaged (default 1)',
      resume: 'add to the truth in --out: paths already in truth.json are kept, not retrained',
      ...WRITER_FLAGS,
    },
    async run(config, flags) {
      await truthWorkflow(config, { ...writer(flags), paths: pathChoice(flags), seeds: flags.truthSeeds });
    },
  },
  rank: {
    summary: 'score paths with the trained supernet in --out; with --truth FILE: Kendall tau, Spearman, precision@top-k, regret, scatter plot',
    // Not --latency-max: rank scores the paths it is given, under FLOPs/params budgets only.
    options: [...SEARCH_OPTIONS.filter((o) => !['searcher', 'population', 'generations', 'search-init', 'compare-init', 'latency-max'].includes(o))],
    extra: { archs: 'FILE of paths (one key per line, or a JSON list)', sample: 'N: a seeded uniform sample of N paths under the budget', all: 'every path (spaces of at most 100k paths)', truth: 'FILE: arch key -> stand-alone accuracy (% or fraction, or {"accuracy": ...}); default paths: its keys' },
    async run(config, flags) {
      const { p, result } = await rankWorkflow(config, { ...reader(flags), paths: pathChoice(flags), truth: flags.truth });
      for (const line of describeRank(result)) print(line);
      await writeRankFiles(p, result, say);
    },
  },
  describe: {
    summary: 'describe a space: layers, choices, size, FLOPs and parameter ranges, share under --flops-max',
    options: ['space', 'flops-max'],
    progress: false,
    async run(config) {
      const space = loadSpace(config.space);
      const d = describeSpace(space, config.flopsMax !== null ? { flopsBudget: config.flopsMax } : {});
      print(formatDescription(d));
    },
  },
  export: {
    summary: 'export a path of a trained supernet in --out (or of --arch) to ONNX as supernet-<key>.onnx and check parity',
    options: ['space', 'data', 'out', 'seed', 'threads'],
    extra: { arch: 'the path: a key or an arch.json file (default: the best of search.json in --out)' },
    progress: false,
    async run(config, flags) {
      await exportWorkflow(config, { ...reader(flags), arch: flags.arch });
    },
  },
  backends: {
    summary: 'the compute backends of this build and whether each can run here (CUDA devices found, or why not)',
    options: [],
    config: false,
    progress: false,
    async run() {
      for (const b of probeBackends()) {
        const state = !b.built ? 'not built' : b.usable ? 'usable' : 'built, cannot run here';
        print(`${b.name.padEnd(10)} ${state.padEnd(24)} ${b.detail}`);
      }
    },
  },
  profile: {
    summary: 'measure the latency of an ONNX model: profile MODEL.onnx [--batch N] [--runs N]',
    options: [],
    positional: 'MODEL.onnx',
    config: false,
    progress: false,
    extra: { batch: 'a second batch size to measure besides 1 (default 8)', runs: 'timed runs per setting (default 100)', provider: 'cpu or cuda', json: 'write the report to this file' },
    async run(_config, flags) {
      await requireOnnxRuntime('`profile`');
      await profileCommand(flags.positional, flags.profile, print);
    },
  },
};

/** Flags a command accepts besides its settings: its extras, --help, and --config / --quiet where they apply. */
function generalFlags(c: Command): string[] {
  return ['help', ...(c.config !== false ? ['config'] : []), ...(c.progress !== false ? ['quiet'] : [])];
}

/** Every flag spelling a command accepts, for did-you-mean. */
function acceptedSpellings(c: Command): string[] {
  const names: string[] = [];
  for (const o of c.options) {
    names.push(o);
    if (isSwitchOption(o)) names.push(`no-${o}`);
  }
  return [...names, ...Object.keys(c.extra ?? {}), ...generalFlags(c)];
}

/** Expands bare boolean flags (--flip, --no-flip) into --flip=true/false. */
function normaliseBooleans(args: string[]): string[] {
  return args.map((a) => {
    const m = /^--(no-)?([a-z0-9-]+)$/.exec(a);
    if (!m) return a;
    const name = m[2]!;
    if (isSwitchOption(name)) return `--${name}=${m[1] ? 'false' : 'true'}`;
    return a;
  });
}

/** The message of a parseArgs error, with the closest accepted flag when one was mistyped. */
function parseErrorMessage(e: Error & { code?: string }, cmd: Command): string {
  const msg = e.message.replace(/\. To specify a positional.*$/s, '');
  const unknown = /Unknown option '--?([^'=]+)/.exec(msg);
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) return `${msg}.${didYouMean(unknown[1]!, acceptedSpellings(cmd), (n) => `--${n}`)}`;
  return msg;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const me = invokedName();
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    print(usage(COMMANDS, me));
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    print(versionText());
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    const hint = name.startsWith('-') ? didYouMean(name.replace(/^-+/, ''), ['help', 'version'], (n) => `--${n}`) : didYouMean(name, Object.keys(COMMANDS), (n) => `'${n}'`);
    warn(`unknown ${name.startsWith('-') ? 'option' : 'command'} '${name}'.${hint}\n\n${usage(COMMANDS, me)}`);
    return 2;
  }
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const o of OPTION_NAMES) options[o] = { type: 'string' };
  for (const o of SWITCH_FLAGS) options[o] = { type: 'boolean' };
  for (const o of VALUE_FLAGS) options[o] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: normaliseBooleans(rest), options, allowPositionals: cmd.positional !== undefined, strict: true });
  } catch (e) {
    warn(`${name}: ${parseErrorMessage(e as Error & { code?: string }, cmd)}\n(see: ${me} ${name} --help)`);
    return 2;
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) {
    print(commandHelp(name, cmd, me));
    return 0;
  }
  try {
    // A flag the command would ignore is refused (it would otherwise look as if it had worked).
    const accepted = new Set([...cmd.options, ...Object.keys(cmd.extra ?? {}), ...generalFlags(cmd)]);
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined || accepted.has(k)) continue;
      const elsewhere = Object.entries(COMMANDS).filter(([, c]) => c.options.includes(k) || k in (c.extra ?? {})).map(([n]) => n);
      throw new ConfigError(`--${k} does not apply to '${name}'${elsewhere.length > 0 ? ` (it is an option of ${elsewhere.join(', ')})` : ''}; see \`${me} ${name} --help\``);
    }
    let config = { ...DEFAULTS };
    if (typeof v.config === 'string') config = loadConfigFile(v.config, config);
    const given: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) if (val !== undefined && OPTION_NAMES.includes(k) && cmd.options.includes(k)) given[k] = val;
    // Later stages and --resume continue a run: its config.json is the base (the data, split and
    // space that trained the supernet); options given on the command line still win (and --resume
    // refuses those that would change the training, unless --allow-change).
    if (RUN_READERS.has(name) || (v.resume === true && RUN_WRITERS.has(name))) {
      const dir = resolve(typeof given.out === 'string' ? given.out : config.out);
      const record = readRunRecord(dir);
      if (record) config = applyObject(config, record, `config.json in ${dir}`);
    }
    config = checkConfig(applyOptions(config, given));
    config = { ...config, out: resolve(config.out) };
    const flags: Flags = { resume: v.resume === true, force: v.force === true, allowChange: v['allow-change'] === true, quiet: v.quiet === true, all: v.all === true, truthSeeds: positiveFlag('truth-seeds', v['truth-seeds'] as string | undefined) ?? 1, positional: parsed.positionals, profile: {} };
    if (typeof v.arch === 'string') flags.arch = v.arch;
    if (typeof v.archs === 'string') flags.archs = v.archs;
    if (typeof v.truth === 'string') flags.truth = v.truth;
    const sample = positiveFlag('sample', v.sample as string | undefined);
    if (sample !== undefined) flags.sample = sample;
    for (const k of ['runs', 'provider', 'json', 'batch'] as const) if (typeof v[k] === 'string') flags.profile[k] = v[k] as string;
    await cmd.run(config, flags);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    warn(`${name}: ${err.message}`);
    if (err instanceof Interrupted) return 130;
    if (process.env.GREEDYNAS_DEBUG) warn(err.stack ?? '');
    return USAGE_ERRORS.has(err.name) || err instanceof ConfigError || err instanceof TruthFileError || err.code === 'GNAS_INVALID_ARGUMENT' ? 2 : 1;
  }
}

/** Error classes (by name) that mean bad input or setup, not a failed computation: exit status 2. */
const USAGE_ERRORS = new Set(['SpaceError', 'SpaceLoadError', 'DataError', 'ArchFileError', 'MissingDependencyError']);

