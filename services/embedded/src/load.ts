import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderSampleGrid, renderScatter } from '@distgan/eval';
import { GlobalGan, type ModelSpec } from '@distgan/gan';
import { decodeWeights } from '@distgan/protocol';

interface GeneratorManifest {
  modelSpec: ModelSpec;
  round: number;
  runId: string;
  blob: string;
}

/** Loads a run's final generator (verifying the blob against the model it describes). */
export function loadGenerator(runDir: string): { gan: GlobalGan; manifest: GeneratorManifest } {
  const manifest = JSON.parse(
    readFileSync(join(runDir, 'generator.json'), 'utf8'),
  ) as GeneratorManifest;
  const gan = new GlobalGan(manifest.modelSpec, {
    seed: 0,
    generatorAdam: { learningRate: 1e-4, beta1: 0.5, beta2: 0.999 },
  });
  try {
    const weights = decodeWeights(readFileSync(join(runDir, manifest.blob)), {
      expect: gan.generator.params.specs,
      context: { run: manifest.runId },
    });
    gan.setGenerator(weights.values);
  } catch (err) {
    gan.dispose();
    throw err;
  }
  return { gan, manifest };
}

/** Samples `count` images (or points) from a run's generator into a PNG; returns its path. */
export async function sampleFromRun(
  runDir: string,
  opts: { count: number; seed: number; output?: string },
): Promise<string> {
  const { gan, manifest } = loadGenerator(runDir);
  try {
    const z = gan.latentBatch(opts.count, opts.seed);
    const samples = gan.sample(z);
    const shape = manifest.modelSpec.sampleShape;
    const png =
      shape.length === 3 ? renderSampleGrid(samples, opts.count, shape) : renderScatter(samples);
    const output = opts.output ?? join(runDir, 'samples', 'sampled.png');
    mkdirSync(dirname(output), { recursive: true });
    writeFileSync(output, png);
    return output;
  } finally {
    gan.dispose();
  }
}
