import { renderLinePlot } from '@distgan/eval';

interface Line {
  round: number;
  losses: { d: number; g: number };
  fid?: number;
}

/** D and G losses per round (smoothed), the convergence picture of a run. */
export function renderLossPlot(lines: readonly Line[]): Uint8Array {
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

/** FID against rounds, from the evaluation rounds of a run. */
export function renderFidPlot(lines: readonly Line[], label: string): Uint8Array {
  const evaluated = lines.filter((l) => l.fid !== undefined);
  return renderLinePlot(
    [
      {
        label,
        color: [44, 160, 44],
        x: evaluated.map((l) => l.round + 1),
        y: evaluated.map((l) => l.fid!),
      },
    ],
    { title: 'FID (lower is better)', xLabel: 'round' },
  );
}
