import { renderLinePlot } from '@distgan/eval';
import type { RoundReport } from '@distgan/transport';

/** D and G losses per round (smoothed), the convergence picture of a run. */
export function renderLossPlot(lines: readonly RoundReport[]): Uint8Array {
  const x = lines.map((l) => l.round + 1);
  return renderLinePlot(
    [
      { label: 'D loss', color: [214, 39, 40], x, y: lines.map((l) => l.losses.d) },
      { label: 'G loss', color: [31, 119, 180], x, y: lines.map((l) => l.losses.g) },
    ],
    {
      title: 'Losses per round',
      xLabel: 'round',
      smooth: Math.max(1, Math.round(lines.length / 50)),
    },
  );
}
