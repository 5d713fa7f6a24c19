import { encode } from 'fast-png';
import { drawText, GLYPH_HEIGHT, textWidth } from './font.js';

export interface Series {
  label: string;
  /** RGB, 0–255. */
  color: readonly [number, number, number];
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** A shaded band around the line (e.g. min–max over seeds), one lo and hi per point. */
  band?: { lo: ArrayLike<number>; hi: ArrayLike<number> };
}

/** A horizontal reference line across the plot, with a label at its left end. */
export interface HLine {
  y: number;
  label?: string;
  /** RGB, 0–255; default dark grey. */
  color?: readonly [number, number, number];
  /** dashed: a reference level; faint: a light dotted guide (a threshold). */
  style?: 'dashed' | 'faint';
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
  /** Horizontal reference lines; their values are included in the y range (unless yRange). */
  hLines?: readonly HLine[];
  /** A line of text under the legend (what the bands mean, for instance). */
  legendNote?: string;
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
 * A line plot as PNG: axes with tick labels, a legend and a title, one line per series, each
 * with an optional shaded band, and optional horizontal reference lines.
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
  const toAxis = (v: number): number => (log ? (v > 0 ? Math.log10(v) : NaN) : v);
  const window = Math.max(1, opts.smooth ?? 1);
  const smoothed = series.map((s) => ({
    ...s,
    y: movingAverage(s.y, window).map(toAxis),
    band: s.band && {
      lo: movingAverage(s.band.lo, window).map(toAxis),
      hi: movingAverage(s.band.hi, window).map(toAxis),
    },
  }));
  const hLines = (opts.hLines ?? [])
    .map((h) => ({ ...h, at: toAxis(h.y) }))
    .filter((h) => Number.isFinite(h.at));

  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const s of smoothed) {
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const ys = [s.y[i]!, s.band?.lo[i] ?? NaN, s.band?.hi[i] ?? NaN].filter(Number.isFinite);
      if (!Number.isFinite(x) || ys.length === 0) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, ...ys);
      yMax = Math.max(yMax, ...ys);
    }
  }
  if (Number.isFinite(xMin)) {
    for (const h of hLines) {
      yMin = Math.min(yMin, h.at);
      yMax = Math.max(yMax, h.at);
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

  // Bands first, blended over the grid (and over each other), then the reference lines.
  const blend = (x: number, y: number, rgb: readonly number[], alpha: number): void => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const o = (y * width + x) * 3;
    for (let c = 0; c < 3; c++)
      data[o + c] = Math.round(data[o + c]! * (1 - alpha) + rgb[c]! * alpha);
  };
  const clampY = (y: number): number => Math.min(yMax, Math.max(yMin, y));
  for (const s of smoothed) {
    if (!s.band) continue;
    const { lo, hi } = s.band;
    for (let i = 0; i + 1 < s.x.length; i++) {
      const [x0, x1] = [s.x[i]!, s.x[i + 1]!];
      const ends = [lo[i]!, hi[i]!, lo[i + 1]!, hi[i + 1]!];
      if (![x0, x1, ...ends].every(Number.isFinite)) continue;
      const c0 = Math.round(px(x0));
      const c1 = Math.round(px(x1));
      // Columns of the segment's last point belong to the next segment, except at the end.
      const last = i + 2 === s.x.length ? c1 : c1 - 1;
      for (let c = c0; c <= last; c++) {
        const t = c1 === c0 ? 0 : (c - c0) / (c1 - c0);
        const a = py(clampY(ends[0]! + t * (ends[2]! - ends[0]!)));
        const b = py(clampY(ends[1]! + t * (ends[3]! - ends[1]!)));
        for (let r = Math.round(Math.min(a, b)); r <= Math.round(Math.max(a, b)); r++)
          blend(c, r, s.color, 0.18);
      }
    }
  }
  for (const h of hLines) {
    if (h.at < yMin || h.at > yMax) continue;
    const y = Math.round(py(h.at));
    const color = h.color ?? [90, 90, 90];
    const faint = h.style === 'faint';
    for (let x = left + 1; x <= right; x++) {
      const on = faint ? (x - left) % 6 < 2 : (x - left) % 10 < 6;
      if (on) blend(x, y, color, faint ? 0.45 : 1);
    }
    if (h.label) {
      const ty = y - GLYPH_HEIGHT - 2 < top ? y + 3 : y - GLYPH_HEIGHT - 2;
      drawText(h.label, left + 4, ty, (a, b) => blend(a, b, color, faint ? 0.6 : 1));
    }
  }

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
  const legendWidth =
    series.reduce((w, s) => w + textWidth(s.label) + 28, 0) - (series.length ? 10 : 0);
  const noteWidth = opts.legendNote ? textWidth(opts.legendNote) : 0;
  if (series.length || opts.legendNote) {
    // A white box behind the legend, so that lines running under it do not garble it.
    const boxLeft = lx - Math.max(legendWidth, noteWidth) - 4;
    const boxBottom = top + (opts.legendNote ? 26 : 15);
    for (let x = Math.max(left + 1, boxLeft); x <= lx + 4; x++)
      for (let y = top + 1; y <= boxBottom; y++) set(x, y, [255, 255, 255]);
  }
  for (const s of [...smoothed].reverse()) {
    const w = textWidth(s.label) + 18;
    lx -= w;
    for (let dx = 0; dx < 12; dx++)
      for (let dy = -1; dy <= 1; dy++) set(lx + dx, top + 8 + dy, s.color);
    drawText(s.label, lx + 16, top + 5, (a, b) => set(a, b, ink));
    lx -= 10;
  }
  if (opts.legendNote) {
    drawText(opts.legendNote, right - 8 - noteWidth, top + 17, (a, b) => set(a, b, ink));
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
