// The shape of a CLI command (its options, the flags it takes besides the run settings, and what
// it runs) and of the flags main() hands it; shared by main.ts (the commands) and help.ts (their
// --help), so that the help text is built from the same tables that decide what is accepted.
import type { RunConfig } from '../pipeline/config.js';

export interface Command {
  summary: string;
  /** Which config options the command reads (they are accepted and listed in its --help). */
  options: string[];
  /** Flags besides the run settings: name -> help text. */
  extra?: Record<string, string>;
  /** Positional arguments in its usage line, e.g. 'MODEL.onnx' (none accepted when absent). */
  positional?: string;
  /** Reads run settings, so --config applies (default true). */
  config?: boolean;
  /** Shows a progress bar, so --quiet applies (default true). */
  progress?: boolean;
  run: (config: RunConfig, flags: Flags) => Promise<void>;
}

export interface Flags {
  resume: boolean;
  /** train-supernet, run, truth: move a run in --out aside (into <out>/.replaced-<time>/) and start anew. */
  force: boolean;
  /** --resume with settings that differ from the run's config.json. */
  allowChange: boolean;
  quiet: boolean;
  /** retrain, export: a key or an arch.json file. */
  arch?: string;
  /** `truth` / `rank`: which paths. */
  archs?: string;
  sample?: number;
  all: boolean;
  /** `rank`: the ground-truth file; `truth`: trainings per path. */
  truth?: string;
  truthSeeds: number;
  positional: string[];
  /** `profile` options: batch, runs, provider, json. */
  profile: Record<string, string>;
}

/** Flags that are switches (no value), besides the boolean run settings. */
export const SWITCH_FLAGS = ['help', 'resume', 'quiet', 'all', 'force', 'allow-change'] as const;
/** Flags with a value that are not run settings. */
export const VALUE_FLAGS = ['config', 'arch', 'runs', 'provider', 'json', 'archs', 'sample', 'truth', 'truth-seeds'] as const;
