// The library API: `import { Supernet, GreedySampler, ... } from 'greedynas'`. Everything a user
// needs to build a supernet, train and score paths, sample them the GreedyNAS way, search, read
// data, measure rankings, export to ONNX and profile it, without the CLI. docs/api.md documents
// it with a worked example that test/api-doc.test.ts runs.
//
// Loading this module loads no native code: the engine's addon is loaded by the first
// Supernet.create() / probeBackends() call, and the optional onnxruntime-node only by the parity
// check and profiling (src/util/onnxruntime.ts), so `import 'greedynas'` works where it is absent.
// Modules that are internal to the CLI pipeline (src/pipeline/, src/train/, src/cli/) are not exported.

// ---- engine ----------------------------------------------------------------------------------
export { Supernet, EngineError, probeBackends } from './native/engine.js';
export type { BackendInfo, BnMode, EngineOptions, EvalResult, Images, Labels, OptimizerOptions, StepResult, TensorInfo } from './native/api.js';

// ---- spaces: files, presets, resolution, costs, paths ------------------------------------------
export { resolveSpace, SpaceError } from './space/resolve.js';
export { listPresets, loadSpace, loadSpaceFile, resolveSpacePath, SpaceLoadError, type LoadedSpace } from './space/presets.js';
export { archFlops, archParams, CostTable, costTable, formatCount } from './space/cost.js';
export { describeSpace, formatDescription, type DescribeOptions, type SpaceDescription } from './space/describe.js';
export { archSpaceOf, assertArch, hammingDistance, spaceSize, type ArchSpace } from './space/arch.js';
export { archKey, parseArchKey, type Activation, type Arch, type OpName, type ResolvedLayer, type ResolvedOp, type ResolvedSpace, type SpaceFile } from './space/types.js';
export {
  ARCH_FORMAT,
  archFile,
  archFileText,
  ArchFileError,
  archFromArgument,
  archOps,
  describeArch,
  formatArch,
  parseArchFile,
  readArchFile,
  writeArchFile,
  type ArchDescription,
  type ArchFile,
  type ArchLayer,
} from './space/arch-file.js';

// ---- sampling: uniform (SPOS), strict-fair (FairNAS), greedy (GreedyNAS) -------------------------
export { UniformSampler, type FlopsBins, type UniformOptions, type UniformState } from './sampling/uniform.js';
export { FairSampler, type FairState } from './sampling/fair.js';
export { GreedySampler, binomialTail, effectiveGoodShare, type GreedyOptions, type GreedyRound, type GreedyState, type LossScorer, type RoundRecord } from './sampling/greedy.js';
export { CandidatePool, DEFAULT_POOL_CAPACITY, type PoolEntry, type PoolJSON, type PushOutcome } from './sampling/pool.js';
export { DEFAULT_ALPHA, DEFAULT_EPS_MAX, EpsSchedule, StoppingRule, type EpochTurnover, type EpsScheduleOptions, type StoppingOptions, type StoppingState } from './sampling/schedule.js';
export { ConstraintChecker, ConstraintError, type ArchPredicate, type Constraints, type Range } from './sampling/constraints.js';

// ---- search ------------------------------------------------------------------------------------
export { EvolutionSearch, type EvolutionOptions } from './search/evolution.js';
export { RandomSearch, type RandomSearchOptions } from './search/random.js';
export { compareBy, type CandidateScore, type CandidateScorer, type EvaluatedPath, type GenerationRecord, type RankBy, type SearchOptions, type SearchResult } from './search/common.js';

// ---- data --------------------------------------------------------------------------------------
export {
  BatchLoader,
  createLoader,
  openTrainingData,
  StreamingLoader,
  createDataset,
  DataError,
  datasetSize,
  defaultAugmentation,
  evalTransform,
  loadIdxDataset,
  loadImageFolder,
  loadOrCreateSplit,
  openDataset,
  SHIPPED_DATASETS,
  stratifiedSplit,
  subsetDataset,
  validateDataset,
  type AugmentSpec,
  type Batch,
  type Dataset,
  type DatasetInput,
  type DatasetSpec,
  type LoaderOptions,
  type LoaderState,
  type OpenedDataset,
  type ValidationSplit,
  type ImageFolderStream,
  type ImageSet,
  type StreamLoaderOptions,
  type TrainingData,
  type TrainingDataSpec,
  type TrainingLoader,
} from './data/index.js';

// ---- rank statistics ---------------------------------------------------------------------------
export { averageRanks, kendallTau, pearson, precisionAtTop, rankReport, spearman, topIndices, type RankReport } from './analysis/rank-stats.js';

// ---- ONNX export and parity ---------------------------------------------------------------------
export {
  buildOnnxModel,
  DEFAULT_OPSET,
  exportOnnx,
  INPUT_NAME,
  modelMetadata,
  OUTPUT_NAME,
  parseModel,
  serializeModel,
  writeOnnx,
  type ExportOptions,
  type ExportResult,
  type TensorSource,
} from './export/onnx.js';
export { checkParity, formatParity, ParityError, verifyCheckFile, type ParityOptions, type ParityReport } from './export/parity.js';

// ---- latency -----------------------------------------------------------------------------------
export { formatProfile, machineInfo, profile, type ExecutionProvider, type LatencyStats, type MachineInfo, type ProfileOptions, type ProfileReport } from './profile/latency.js';
export { LatencyPredictor, latencyTable, measureLatencyTable, type LatencyTableData, type LatencyTableOptions } from './profile/latency-table.js';
export { formatChoice, LatencyEstimator, latencyEstimator, type ChoiceOptions, type LatencyChoiceData, type LatencyMethod } from './profile/latency-choice.js';
export { loadOnnxRuntime, MissingDependencyError } from './util/onnxruntime.js';

// ---- plots and provenance ----------------------------------------------------------------------
export { writePlots, writeScatter, type PlotOptions, type ReportData, type ScatterData } from './report/plots.js';
export { packageVersion, provenance, type Provenance } from './util/provenance.js';
