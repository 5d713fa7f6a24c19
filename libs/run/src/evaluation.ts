import { DEFAULT_RING, ringModeCoverage } from '@distgan/data';
import {
  loadEvaluator,
  type Evaluator,
  type EvaluationProtocol,
  type SampleQuality,
} from '@distgan/eval';
import { latentClassesOf } from '@distgan/gan';
import { deriveSeed } from '@distgan/protocol';
import { latentVectors } from './method-data.js';

/** What a run measures of its generator, the same in the embedded run and on the server. */
export interface EvaluationSettings {
  dataset: 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring';
  dataDir?: string;
  /** A classifier card instead of the committed one. */
  classifier?: string;
  ringStd: number;
  seed: number;
  /** Generated samples per evaluation of images. */
  samples: number;
  latentDim: number;
  /** A conditional model's class count (0 or absent: unconditional). */
  classes?: number;
}

/** One evaluation: images get FID and what the classifier sees; the ring its modes. */
export interface EvaluationResult {
  fid?: number;
  eval: Partial<Omit<SampleQuality, 'fid'>> & { highQuality?: number };
}

/**
 * A run's evaluation: for images, FID, modes, class balance, the classifier's confidence and, for
 * a conditional model, how often it labels a sample with the class it was asked for, on
 * `samples` generated images against the test set (docs/evaluation.md); for the 2D ring, the
 * modes covered by 2,000 samples and the share of samples near a mode. The latent vectors are
 * fixed by the run's seed, so that every evaluation of a run, and of any process running it,
 * looks at the same draws.
 */
export class RunEvaluation {
  private constructor(
    private readonly evaluator: Evaluator | undefined,
    private readonly z: Float32Array,
    private readonly ring: typeof DEFAULT_RING,
    /** The class each latent vector asks for, for a conditional model's images. */
    private readonly asked?: Int32Array,
  ) {}

  static async create(s: EvaluationSettings): Promise<RunEvaluation> {
    const ring = { ...DEFAULT_RING, std: s.ringStd };
    if (s.dataset === 'ring') {
      return new RunEvaluation(
        undefined,
        latentVectors(2000, s.latentDim, deriveSeed(s.seed, 'ring-eval')),
        ring,
      );
    }
    const evaluator = await loadEvaluator({
      dataset: s.dataset,
      dataDir: s.dataDir,
      classifier: s.classifier,
    });
    const z = latentVectors(s.samples, s.latentDim, deriveSeed(s.seed, 'eval'));
    const asked = s.classes ? latentClassesOf(z, s.latentDim, s.classes) : undefined;
    return new RunEvaluation(evaluator, z, ring, asked);
  }

  /** How FID is measured (images only). */
  get protocol(): Omit<EvaluationProtocol, 'samples'> | undefined {
    return this.evaluator?.protocol;
  }

  evaluate(sample: (z: Float32Array) => Float32Array): EvaluationResult {
    if (this.evaluator) {
      const { fid, ...rest } = this.evaluator.evaluate(sample(this.z), this.asked);
      return { fid, eval: rest };
    }
    const c = ringModeCoverage(sample(this.z), this.ring);
    return {
      eval: { modesCovered: c.covered, highQuality: c.highQuality, numClasses: this.ring.modes },
    };
  }

  dispose(): void {
    this.evaluator?.dispose();
  }
}

/** What "digits a person reads at a glance" means for a run's final generator (issue #20). */
export const QUALITY_TARGETS = {
  /** FID at most this, on 2,000 samples against the test set with the committed classifier. */
  fid: 25,
  /** Every class at least this share of the samples, by the classifier's labels. */
  smallestClassShare: 0.05,
  /** At least this share of the samples classified with confidence ≥ CONFIDENT_PROBABILITY. */
  confidentShare: 0.9,
} as const;

export interface QualityReport {
  round: number;
  samples: number;
  fid: number;
  smallestClassShare: number;
  confidentShare: number;
  /** Conditional models: the share labelled with the class it was asked for (no target). */
  classMatch?: number;
  targets: typeof QUALITY_TARGETS;
  met: { fid: boolean; smallestClassShare: boolean; confidentShare: boolean; all: boolean };
}

/** The three numbers of an image run's evaluation against their targets; undefined for the ring. */
export function qualityReport(
  round: number,
  samples: number,
  r: EvaluationResult,
): QualityReport | undefined {
  const { smallestClassShare, confidentShare } = r.eval;
  if (r.fid === undefined || smallestClassShare === undefined || confidentShare === undefined)
    return undefined;
  const t = QUALITY_TARGETS;
  const met = {
    fid: r.fid <= t.fid,
    smallestClassShare: smallestClassShare >= t.smallestClassShare,
    confidentShare: confidentShare >= t.confidentShare,
  };
  return {
    round,
    samples,
    fid: r.fid,
    smallestClassShare,
    confidentShare,
    ...(r.eval.classMatch === undefined ? {} : { classMatch: r.eval.classMatch }),
    targets: t,
    met: { ...met, all: met.fid && met.smallestClassShare && met.confidentShare },
  };
}

/** The report as one line for a person: each number, its target, and whether it is met. */
export function describeQuality(q: QualityReport): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const mark = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  return (
    `final generator (${q.samples} samples): FID ${q.fid.toFixed(2)} (target ≤ ${q.targets.fid}: ${mark(q.met.fid)}), ` +
    `smallest class ${pct(q.smallestClassShare)} of the samples (target ≥ ${pct(q.targets.smallestClassShare)}: ${mark(q.met.smallestClassShare)}), ` +
    `${pct(q.confidentShare)} classified with confidence ≥ 0.9 (target ≥ ${pct(q.targets.confidentShare)}: ${mark(q.met.confidentShare)})` +
    (q.classMatch === undefined
      ? ''
      : `; ${pct(q.classMatch)} labelled with the class they were asked for`)
  );
}
