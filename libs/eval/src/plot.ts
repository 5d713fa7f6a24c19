import { encode } from 'fast-png';
import { drawText, GLYPH_HEIGHT, textWidth } from './font.js';

export interface Series {
  label: string;
  /** RGB, 0–255. */
  color: readonly [number, number, number];
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  width?: number;
  height?: number;
  /** Smooth each series with a trailing moving average of this many points (1: raw). */
  smooth?: number;
  /** Fixed y range; default: the data's, padded. */
  yRange?: readonly [number, number];
  /** Logarithmic y axis (non-positive values are skipped), ticks at 1, 2, 5 × 10^k. */
  logY?: boolean;
}

/** Tick values for a log axis over [10^lo, 10^hi]. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const steps = hi - lo > 3 ? [1] : hi - lo > 1.2 ? [1, 2, 5] : [1, 1.5, 2, 3, 5, 7];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of steps) {
      const v = m * 10 ** k;
      const l = Math.log10(v);
      if (l >= lo && l <= hi) ticks.push(Number(v.toPrecision(12)));
    }
  }
  return ticks;
}

/** Ticks at 1, 2 or 5 × 10^k, about `target` of them over [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

function movingAverage(y: ArrayLike<number>, window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  let n = 0;
  const q: number[] = [];
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isFinite(v)) {
      out.push(NaN);
      continue;
    }
    q.push(v);
    sum += v;
    n++;
    if (q.length > window) {
      sum -= q.shift()!;
      n--;
    }
    out.push(sum / n);
  }
  return out;
}

/**
 * A line plot as PNG: axes with tick labels, a legend and a title, one line per series.
 * Non-finite points are skipped (the line breaks there).
 */
export function renderLinePlot(series: readonly Series[], opts: LinePlotOptions = {}): Uint8Array {
  const width = opts.width ?? 720;
  const height = opts.height ?? 400;
  const data = new Uint8Array(width * height * 3).fill(255);
  const set = (x: number, y: number, rgb: readonly number[]): void => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    data.set(rgb, (Math.round(y) * width + Math.round(x)) * 3);
  };
  const log = opts.logY === true;
  const smoothed = series.map((s) => {
    const y = movingAverage(s.y, Math.max(1, opts.smooth ?? 1));
    return { ...s, y: log ? y.map((v) => (v > 0 ? Math.log10(v) : NaN)) : y };
  });

  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const s of smoothed) {
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, y);
      yMax = Math.max(yMax, y);
    }
  }
  if (!Number.isFinite(xMin)) {
    xMin = 0;
    xMax = 1;
    yMin = 0;
    yMax = 1;
  }
  if (opts.yRange) {
    [yMin, yMax] = log ? (opts.yRange.map((v) => Math.log10(v)) as [number, number]) : opts.yRange;
  }
  if (xMax === xMin) xMax = xMin + 1;
  if (yMax === yMin) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const yPad = (yMax - yMin) * 0.05;
  if (!opts.yRange) {
    yMin -= yPad;
    yMax += yPad;
  }

  const left = 56;
  const right = width - 16;
  const top = opts.title ? 30 : 14;
  const bottom = height - (opts.xLabel ? 40 : 26);
  const px = (x: number): number => left + ((x - xMin) / (xMax - xMin)) * (right - left);
  const py = (y: number): number => bottom - ((y - yMin) / (yMax - yMin)) * (bottom - top);
  const ink = [40, 40, 40] as const;
  const grid = [225, 225, 225] as const;

  const yTicks = log
    ? logTicks(yMin, yMax).map((v) => ({ at: Math.log10(v), label: formatTick(v) }))
    : niceTicks(yMin, yMax).map((v) => ({ at: v, label: formatTick(v) }));
  for (const { at, label } of yTicks) {
    const y = py(at);
    for (let x = left; x <= right; x++) set(x, y, grid);
    drawText(label, left - 6 - textWidth(label), Math.round(y - GLYPH_HEIGHT / 2), (a, b) =>
      set(a, b, ink),
    );
  }
  for (const t of niceTicks(xMin, xMax, 6)) {
    const x = px(t);
    for (let y = top; y <= bottom; y++) set(x, y, grid);
    const label = formatTick(t);
    drawText(label, Math.round(x - textWidth(label) / 2), bottom + 6, (a, b) => set(a, b, ink));
  }
  for (let x = left; x <= right; x++) set(x, bottom, ink);
  for (let y = top; y <= bottom; y++) set(left, y, ink);

  for (const s of smoothed) {
    let prev: [number, number] | undefined;
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        prev = undefined;
        continue;
      }
      const p: [number, number] = [px(x), py(Math.min(yMax, Math.max(yMin, y)))];
      if (prev) line(prev, p, (a, b) => set(a, b, s.color));
      else set(p[0], p[1], s.color);
      prev = p;
    }
  }

  if (opts.title) drawText(opts.title, left, 10, (a, b) => set(a, b, ink), 2);
  if (opts.xLabel) {
    drawText(
      opts.xLabel,
      Math.round((left + right - textWidth(opts.xLabel)) / 2),
      height - 14,
      (a, b) => set(a, b, ink),
    );
  }
  let lx = right - 8;
  for (const s of [...smoothed].reverse()) {
    const w = textWidth(s.label) + 18;
    lx -= w;
    for (let dx = 0; dx < 12; dx++)
      for (let dy = -1; dy <= 1; dy++) set(lx + dx, top + 8 + dy, s.color);
    drawText(s.label, lx + 16, top + 5, (a, b) => set(a, b, ink));
    lx -= 10;
  }
  return encode({ width, height, data, depth: 8, channels: 3 });
}

/** Bresenham, two pixels thick. */
function line(a: [number, number], b: [number, number], set: (x: number, y: number) => void): void {
  let x0 = Math.round(a[0]);
  let y0 = Math.round(a[1]);
  const x1 = Math.round(b[0]);
  const y1 = Math.round(b[1]);
  const dx = Math.abs(x1 - x0);
  const dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1;
  const sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    set(x0, y0);
    set(x0, y0 + 1);
    if (x0 === x1 && y0 === y1) break;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}
