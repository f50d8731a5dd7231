// Search-space types: the JSON a user writes (SpaceFile) and the fully resolved geometry that
// the FLOPs tables, the native engine and the ONNX exporter all read (ResolvedSpace). Every
// derived size (expanded channels, squeeze-excite width, spatial size of each layer) is computed
// once, in resolveSpace() (src/space/resolve.ts), so no other module re-derives it.

export type Activation = 'relu' | 'relu6' | 'hswish';

/** Numeric codes of activations across the N-API boundary (native/core/backend.h, enum Act). */
export const ACTIVATION_CODE: Record<Activation | 'none', number> = { none: 0, relu: 1, relu6: 2, hswish: 3 };

/**
 * A candidate op as written in a space file: "k{kernel}e{expansion}" with an optional "_se"
 * suffix (MBConv with squeeze-excite), or "id" (identity; a strided 1x1 conv + BN at a
 * reduction layer).
 */
export type OpName = string;

export interface SpaceFile {
  /** Free-form name, written into checkpoints, logs and ONNX metadata. */
  name: string;
  /** Free-form documentation (ignored by resolution; presets say where their numbers come from). */
  description?: string;
  comment?: string;
  input: { height: number; width: number; channels: number };
  classes: number;
  activation: Activation;
  stem: { width: number; stride: number; kernel?: number };
  /** Fixed MBConv blocks between the stem and the first searchable layer. */
  fixedBlocks: Array<{ kernel: number; expansion: number; width: number; stride: number; se?: boolean }>;
  /** Searchable stages: `layers` layers of `width` output channels; the first has `stride`. */
  stages: Array<{ width: number; layers: number; stride: number }>;
  /** Candidate ops of every searchable layer, in choice-index order. */
  ops: OpName[];
  head: { width: number };
  /** Batch-norm epsilon and running-statistics momentum (PyTorch convention). Default 1e-5 / 0.1. */
  bn?: { eps?: number; momentum?: number };
  /** Squeeze-excite width as a share of the expanded channels (default 0.25, at least 1 channel). */
  seRatio?: number;
  /** Per-channel normalisation applied natively to images in [0,1]; default mean 0.5, std 0.25. */
  normalization?: { mean: number[]; std: number[] };
}

/** One candidate op with every size resolved for the layer it sits in. */
export interface ResolvedOp {
  name: OpName;
  /** 'mbconv': expand 1x1 (absent when expansion is 1), depthwise kxk, optional SE, project 1x1.
   *  'skip': identity with no parameters (stride 1, same width).
   *  'conv1x1': identity at a reduction layer, a 1x1 conv with the layer's stride + BN. */
  kind: 'mbconv' | 'skip' | 'conv1x1';
  kernel: number;
  expansion: number;
  se: boolean;
  /** Expanded (middle) channels, cin * expansion; 0 for skip/conv1x1. */
  mid: number;
  /** Squeeze-excite hidden width; 0 without SE. */
  seWidth: number;
}

/** A layer (fixed block or searchable layer) with its input geometry. */
export interface ResolvedLayer {
  cin: number;
  cout: number;
  stride: number;
  /** Input spatial size. */
  height: number;
  width: number;
  /** Output spatial size. */
  outHeight: number;
  outWidth: number;
  /** Candidate ops (a fixed block has exactly one). */
  ops: ResolvedOp[];
}

export interface ResolvedSpace {
  name: string;
  input: { height: number; width: number; channels: number };
  classes: number;
  activation: Activation;
  bnEps: number;
  bnMomentum: number;
  normalization: { mean: number[]; std: number[] };
  stem: { cin: number; cout: number; kernel: number; stride: number; height: number; width: number; outHeight: number; outWidth: number };
  fixed: ResolvedLayer[];
  layers: ResolvedLayer[];
  /** Op names of the searchable layers (identical for every layer), in choice order. */
  opNames: OpName[];
  head: { cin: number; cout: number; height: number; width: number };
  fc: { cin: number; classes: number };
}

/** A path through the supernet: one choice index per searchable layer. */
export type Arch = number[];

/** Canonical string key of an arch, e.g. "3-0-6-2". */
export function archKey(arch: readonly number[]): string {
  return arch.join('-');
}

/** "3-0-6-2" -> [3, 0, 6, 2]; every part must be a plain decimal integer ("6x", "1.9", "" are refused). */
export function parseArchKey(key: string): Arch {
  if (typeof key !== 'string' || !/^\d+(-\d+)*$/.test(key.trim())) {
    throw new RangeError(`arch key ${JSON.stringify(key)}: expected choice indices joined by '-', e.g. 3-0-6-2`);
  }
  return key.trim().split('-').map((s) => Number(s));
}
