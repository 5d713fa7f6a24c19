import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { renderLinePlot, type LinePlotOptions, type Series } from './plot.js';

const W = 400;
const H = 300;
// The plot area without title and x label (see renderLinePlot): x 56..W-16, y 14..H-26.
const LEFT = 56;
const RIGHT = W - 16;
const TOP = 14;
const BOTTOM = H - 26;

/** Renders and decodes: a function from (x, y) to [r, g, b]. */
function render(series: Series[], opts: LinePlotOptions = {}): (x: number, y: number) => number[] {
  const png = decode(renderLinePlot(series, { width: W, height: H, ...opts }));
  assert.equal(png.width, W);
  assert.equal(png.height, H);
  assert.equal(png.channels, 3);
  return (x, y) => [...png.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)];
}

/** The pixel row of `v` on a log axis fixed to [lo, hi]. */
const rowOf = (v: number, lo: number, hi: number): number =>
  Math.round(
    BOTTOM -
      ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (BOTTOM - TOP),
  );

const red = [214, 39, 40] as const;
const flat = (y: number, band?: [number, number]): Series => ({
  label: 'a',
  color: red,
  x: [0, 10],
  y: [y, y],
  ...(band ? { band: { lo: [band[0], band[0]], hi: [band[1], band[1]] } } : {}),
});
const isWhite = (p: number[]): boolean => p.every((c) => c === 255);
const reddish = (p: number[]): boolean => p[0]! > p[1]! + 20 && p[0]! > p[2]! + 20;

describe('renderLinePlot', () => {
  it('draws plain series as before (no band, no reference lines)', () => {
    const at = render([flat(100)], { logY: true, yRange: [10, 1000] });
    const x = Math.round((LEFT + RIGHT) / 2);
    assert.ok(reddish(at(x, rowOf(100, 10, 1000))), 'the line');
    assert.ok(isWhite(at(x, rowOf(60, 10, 1000))), 'nothing below it');
  });

  it('shades the band between lo and hi in the series colour, lighter than the line', () => {
    const at = render([flat(100, [40, 300])], { logY: true, yRange: [10, 1000] });
    const x = Math.round((LEFT + RIGHT) / 2);
    for (const v of [50, 70, 200, 280]) {
      const p = at(x, rowOf(v, 10, 1000));
      assert.ok(reddish(p), `band at ${v}: ${p.join(',')}`);
      assert.ok(p[1]! > 150, `band at ${v} is light: ${p.join(',')}`);
    }
    for (const v of [15, 700]) assert.ok(isWhite(at(x, rowOf(v, 10, 1000))), `outside at ${v}`);
  });

  it('draws dashed reference lines with their labels, and takes them into the y range', () => {
    // The data is 100..1000; the floor at 4 must still be on the plot.
    const series: Series[] = [{ label: 'a', color: red, x: [0, 10], y: [1000, 100] }];
    const opts: LinePlotOptions = {
      logY: true,
      hLines: [
        { y: 4, label: 'floor 4', style: 'dashed' },
        { y: 50, label: 'FID 50', style: 'faint' },
      ],
    };
    const png = decode(renderLinePlot(series, { width: W, height: H, ...opts }));
    const dark = (x: number, y: number): boolean => {
      const o = (y * W + x) * 3;
      return png.data[o]! < 120 && png.data[o + 1]! < 120 && png.data[o + 2]! < 120;
    };
    const darkInRow = (y: number): number => {
      let n = 0;
      for (let x = LEFT + 1; x <= RIGHT; x++) if (dark(x, y)) n++;
      return n;
    };
    // Some row near the bottom carries a dashed line: many dark pixels, with gaps.
    let dashedRow = -1;
    for (let y = BOTTOM - 1; y > BOTTOM - 40; y--) {
      const n = darkInRow(y);
      if (n > (RIGHT - LEFT) * 0.4 && n < (RIGHT - LEFT) * 0.9) dashedRow = y;
    }
    assert.ok(dashedRow > 0, 'a dashed line near the bottom (the floor, 4, is in the y range)');
    // Its label just above it, at the left.
    let labelInk = 0;
    for (let y = dashedRow - 10; y < dashedRow; y++)
      for (let x = LEFT + 4; x < LEFT + 50; x++) if (dark(x, y)) labelInk++;
    assert.ok(labelInk > 10, 'the label is drawn');
    // The faint guide is not dark anywhere on its row, but not white either.
    const without = decode(
      renderLinePlot(series, { width: W, height: H, logY: true, hLines: [opts.hLines![0]!] }),
    );
    let differs = 0;
    for (let i = 0; i < png.data.length; i++) if (png.data[i] !== without.data[i]) differs++;
    assert.ok(differs > 100, 'the faint guide is drawn');
  });

  it('writes a note under the legend', () => {
    const base = renderLinePlot([flat(100)], { width: W, height: H });
    const noted = renderLinePlot([flat(100)], { width: W, height: H, legendNote: 'band: min-max' });
    assert.notDeepEqual(decode(base).data, decode(noted).data);
  });
});
