import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/*
 * Kernels registered on the wasm backend at start-up, so that training on wasm is possible
 * (the DCGAN needs Conv2DBackpropFilter, which tfjs-backend-wasm lacks) and fast (its
 * transposed-operand matMul and its Conv2DBackpropInput are naive loops). Each is written in
 * terms of the backend's own fast kernels (XNNPACK matMul and conv2d, transpose, pad, slice),
 * called at the TensorInfo level; intermediates are freed before returning.
 */

type Backend = { disposeData(dataId: object, force?: boolean): boolean };

const WASM = 'wasm';
/** Measured on a 2-core x86: below this many dx channels the stock Conv2DBackpropInput wins. */
const MIN_CHANNELS_FOR_CONV = 8;
const originals = new Map<string, KernelConfig | undefined>();

function kernel(name: string): KernelFunc {
  const k = tf.getKernel(name, WASM);
  if (!k) throw new Error(`the wasm backend has no ${name} kernel to build on`);
  return k.kernelFunc;
}

/** Calls another wasm kernel directly; the result must be freed (or returned). */
function call(
  name: string,
  backend: unknown,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const out = kernel(name)({ inputs, backend: backend as never, attrs });
  return out as TensorInfo;
}

function free(backend: unknown, ...infos: TensorInfo[]): void {
  for (const t of infos) (backend as Backend).disposeData(t.dataId);
}

function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

/** BatchMatMul with transposed operands: transpose explicitly (fast), then a plain matMul. */
function batchMatMul(original: KernelFunc): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original({ inputs, backend, attrs });
    const temps: TensorInfo[] = [];
    const at = transposeA
      ? call('Transpose', backend, { x: a }, { perm: swapLast(a.shape.length) })
      : a;
    const bt = transposeB
      ? call('Transpose', backend, { x: b }, { perm: swapLast(b.shape.length) })
      : b;
    if (transposeA) temps.push(at);
    if (transposeB) temps.push(bt);
    try {
      return original({
        inputs: { a: at, b: bt },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      free(backend, ...temps);
    }
  };
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util_ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}
type backend_util_ExplicitPadding = [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];

function checkAttrs(
  name: string,
  attrs: ConvAttrs & { dilations?: number | [number, number] },
): void {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
    throw new Error(`${name} on wasm supports NHWC only, got ${attrs.dataFormat}`);
  }
  const d = attrs.dilations;
  if (d !== undefined && !(d === 1 || (Array.isArray(d) && d[0] === 1 && d[1] === 1))) {
    throw new Error(`${name} on wasm supports dilations of 1 only`);
  }
}

/**
 * dW[a, b, ci, co] = Σ_{n,i,j} xpad[n, i·s + a, j·s + b, ci] · dy[n, i, j, co], computed as one
 * conv2d: xpad with batch and channels swapped ([Ci, Hp, Wp, N]) convolved with dy as the filter
 * ([Ho, Wo, N, Co]) at dilation s, then cropped to the filter size.
 */
const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  checkAttrs('Conv2DBackpropFilter', a);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const { top, bottom, left, right } = info.padInfo;
  const [kh, kw, ci, co] = a.filterShape;
  const temps: TensorInfo[] = [];
  const keep = <T extends TensorInfo>(t: T): T => (temps.push(t), t);
  try {
    const padded =
      top || bottom || left || right
        ? keep(
            call(
              'PadV2',
              backend,
              { x },
              {
                paddings: [
                  [0, 0],
                  [top, Math.max(0, bottom)],
                  [left, Math.max(0, right)],
                  [0, 0],
                ],
                constantValue: 0,
              },
            ),
          )
        : x;
    const xT = keep(call('Transpose', backend, { x: padded }, { perm: [3, 1, 2, 0] })); // [Ci, Hp, Wp, N]
    const dyT = keep(call('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] })); // [Ho, Wo, N, Co]
    const full = keep(
      call(
        'Conv2D',
        backend,
        { x: xT, filter: dyT },
        {
          strides: [1, 1],
          pad: 'valid',
          dataFormat: 'NHWC',
          dilations: [info.strideHeight, info.strideWidth],
        },
      ),
    ); // [Ci, ≥kh, ≥kw, Co]
    const cropped =
      full.shape[1] === kh && full.shape[2] === kw
        ? full
        : keep(
            call('Slice', backend, { x: full }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] }),
          );
    return call('Transpose', backend, { x: cropped }, { perm: [1, 2, 0, 3] });
  } finally {
    free(backend, ...temps);
  }
};

/**
 * dx of a conv2d (and the forward pass of conv2dTranspose): dy with s−1 zeros inserted between
 * its rows and columns, padded by k−1−pad, convolved (stride 1) with the filter flipped in space
 * and with in/out channels swapped.
 */
const conv2dBackpropInput =
  (stock: KernelFunc | undefined): KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    // With few input channels (a generator's last layer) XNNPACK's conv does little per output
    // and the zero insertion's s² extra work dominates: the stock loops are faster there.
    if (stock && (filter.shape[2] ?? 0) < MIN_CHANNELS_FOR_CONV)
      return stock({ inputs, backend, attrs });
    const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
    checkAttrs('Conv2DBackpropInput', a);
    const info = tf.backend_util.computeConv2DInfo(
      a.inputShape,
      filter.shape as [number, number, number, number],
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    const [n, ho, wo, co] = dy.shape as [number, number, number, number];
    const [kh, kw, ci] = filter.shape as [number, number, number, number];
    const [, h, w] = a.inputShape;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    const temps: TensorInfo[] = [];
    const keep = <T extends TensorInfo>(t: T): T => (temps.push(t), t);
    try {
      // Zero insertion: [N, Ho, 1, Wo, 1, Co] padded to [N, Ho, s, Wo, s, Co] = [N, Ho·s, Wo·s, Co].
      let z: TensorInfo = dy;
      if (sh > 1 || sw > 1) {
        const r6 = keep(call('Reshape', backend, { x: dy }, { shape: [n, ho, 1, wo, 1, co] }));
        const p6 = keep(
          call(
            'PadV2',
            backend,
            { x: r6 },
            {
              paddings: [
                [0, 0],
                [0, 0],
                [0, sh - 1],
                [0, 0],
                [0, sw - 1],
                [0, 0],
              ],
              constantValue: 0,
            },
          ),
        );
        z = keep(call('Reshape', backend, { x: p6 }, { shape: [n, ho * sh, wo * sw, co] }));
      }
      // Rows of z that carry data: (Ho−1)·s+1, followed by s−1 zero rows already there.
      const padTop = kh - 1 - info.padInfo.top;
      const padLeft = kw - 1 - info.padInfo.left;
      const needH = h + kh - 1; // rows the valid conv needs to produce h outputs
      const needW = w + kw - 1;
      const padBottom = needH - padTop - ho * sh;
      const padRight = needW - padLeft - wo * sw;
      if (padTop < 0 || padLeft < 0)
        throw new Error(
          'Conv2DBackpropInput on wasm: padding larger than the filter is not supported',
        );
      let zp: TensorInfo = z;
      if (padTop || padLeft || padBottom > 0 || padRight > 0) {
        zp = keep(
          call(
            'PadV2',
            backend,
            { x: z },
            {
              paddings: [
                [0, 0],
                [padTop, Math.max(0, padBottom)],
                [padLeft, Math.max(0, padRight)],
                [0, 0],
              ],
              constantValue: 0,
            },
          ),
        );
      }
      if (zp.shape[1] !== needH || zp.shape[2] !== needW) {
        zp = keep(
          call('Slice', backend, { x: zp }, { begin: [0, 0, 0, 0], size: [n, needH, needW, co] }),
        );
      }
      const flipped = keep(call('Reverse', backend, { x: filter }, { dims: [0, 1] }));
      const f = keep(call('Transpose', backend, { x: flipped }, { perm: [0, 1, 3, 2] })); // [kh, kw, Co, Ci]
      void ci;
      return call(
        'Conv2D',
        backend,
        { x: zp, filter: f },
        { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] },
      );
    } finally {
      free(backend, ...temps);
    }
  };

/** Registers the wasm kernels above (idempotent). */
export function patchWasmKernels(): void {
  if (originals.size > 0) return;
  const replace = (name: string, kernelFunc: KernelFunc): void => {
    const original = tf.getKernel(name, WASM);
    originals.set(name, original);
    if (original) tf.unregisterKernel(name, WASM);
    tf.registerKernel({
      kernelName: name,
      backendName: WASM,
      kernelFunc,
      setupFunc: original?.setupFunc,
      disposeFunc: original?.disposeFunc,
    });
  };
  replace('BatchMatMul', batchMatMul(kernel('BatchMatMul')));
  replace('Conv2DBackpropFilter', conv2dBackpropFilter);
  replace(
    'Conv2DBackpropInput',
    conv2dBackpropInput(tf.getKernel('Conv2DBackpropInput', WASM)?.kernelFunc),
  );
}

/** Restores the wasm backend's own kernels (benchmarks compare both). */
export function unpatchWasmKernels(): void {
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, WASM);
    if (original) tf.registerKernel(original);
  }
  originals.clear();
}

export function wasmKernelsPatched(): boolean {
  return originals.size > 0;
}
