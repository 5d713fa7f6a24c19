import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '@distgan/gan';
import { encodeWeights, type FlatWeights } from '@distgan/protocol';

/**
 * A run's folder, as the embedded run and the server write it:
 *   config.json                  the run's settings (the embedded run)
 *   metrics.jsonl                one line per round
 *   samples/round-NNNNNN.png     a sample grid after round NNNNNN (counted from 1)
 *   generator.dgwb, .json        the final generator (a weight blob) and its model card
 *   discriminator.dgwb           the final discriminator
 *   resumed-round-NNNNNN-generator.dgwb   the generator a restarted server went on with
 */
export class RunFolder {
  readonly metricsPath: string;
  readonly samplesDir: string;

  /** `fresh`: start metrics.jsonl empty (a new run); otherwise lines are appended (a resume). */
  constructor(
    readonly dir: string,
    opts: { fresh: boolean },
  ) {
    this.samplesDir = join(dir, 'samples');
    mkdirSync(this.samplesDir, { recursive: true });
    this.metricsPath = join(dir, 'metrics.jsonl');
    if (opts.fresh) writeFileSync(this.metricsPath, '');
  }

  writeJson(name: string, value: unknown): void {
    writeFileSync(join(this.dir, name), JSON.stringify(value, null, 2) + '\n');
  }

  appendMetrics(line: unknown): void {
    appendFileSync(this.metricsPath, JSON.stringify(line) + '\n');
  }

  /** The grid drawn after `rounds` rounds; its path. */
  writeGrid(rounds: number, png: Uint8Array): string {
    const path = join(this.samplesDir, `round-${pad(rounds)}.png`);
    writeFileSync(path, png);
    return path;
  }

  /** The final generator and discriminator, and the generator's card; the generator's path. */
  writeFinal(o: {
    generator: FlatWeights;
    /** Absent where the method's server holds none (MD-GAN before its first swap). */
    discriminator: FlatWeights | undefined;
    spec: ModelSpec;
    round: number;
    runId: string;
  }): string {
    const path = join(this.dir, 'generator.dgwb');
    writeFileSync(path, encodeWeights(o.generator));
    if (o.discriminator)
      writeFileSync(join(this.dir, 'discriminator.dgwb'), encodeWeights(o.discriminator));
    this.writeJson('generator.json', {
      modelSpec: o.spec,
      round: o.round,
      runId: o.runId,
      blob: 'generator.dgwb',
    });
    return path;
  }

  /** The generator a resumed run goes on with (after round `round`); its file name. */
  writeResumed(round: number, generator: FlatWeights): string {
    const name = `resumed-round-${pad(round)}-generator.dgwb`;
    writeFileSync(join(this.dir, name), encodeWeights(generator));
    return name;
  }
}

const pad = (n: number): string => String(n).padStart(6, '0');
