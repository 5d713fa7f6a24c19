import { FEATURE_DIM, FEATURE_LAYER, type Classifier, type Embedding } from './classifier.js';
import { featureStats, frechetDistance, type GaussianStats } from './fid.js';

/** What the classifier sees in a set of generated samples. */
export interface SampleQuality {
  /** Fréchet distance to the reference set in the classifier's feature space. */
  fid: number;
  /** exp E_x KL(p(y|x) ‖ p(y)) with the classifier's p(y|x): 1 (useless) to numClasses. */
  inceptionScore: number;
  /** Classes that get at least MODE_SHARE of a uniform share of the predicted labels. */
  modesCovered: number;
  numClasses: number;
  /** Normalised entropy of the predicted label histogram: 1 = every class equally often. */
  classBalance: number;
  /** Share of samples of each predicted class. */
  classShares: number[];
  /** Mean top-class probability: how recognisable the samples are to the classifier. */
  confidence: number;
  /** Share of samples whose top-class probability is at least CONFIDENT_PROBABILITY. */
  confidentShare: number;
  /** The smallest class's share of the predicted labels (0 when a class is never predicted). */
  smallestClassShare: number;
  /**
   * Conditional models: the share of samples the classifier labels with the class they were
   * asked for (absent when no classes were given).
   */
  classMatch?: number;
  /** Samples evaluated. */
  samples: number;
}

/** A sample is read as its class "at a glance" when the classifier gives it this much or more. */
export const CONFIDENT_PROBABILITY = 0.9;

/** A class is covered when it gets at least this fraction of the share it would get if uniform. */
export const MODE_SHARE = 0.1;

/** How the FID was measured: it depends on all three, so every report names them. */
export interface EvaluationProtocol {
  dataset: string;
  featureLayer: string;
  featureDim: number;
  referenceSamples: number;
  referenceSplit: string;
  samples: number;
}

/**
 * Everything computed from the classifier's output alone (no features needed); with `asked`,
 * the class each sample was asked for, also the share labelled with it.
 */
export function labelStatistics(
  probs: Float32Array,
  numClasses: number,
  asked?: Int32Array,
): Omit<SampleQuality, 'fid' | 'samples'> {
  const n = probs.length / numClasses;
  if (asked && asked.length !== n)
    throw new RangeError(`${asked.length} asked classes for ${n} samples`);
  let matched = 0;
  const marginal = new Float64Array(numClasses);
  const counts = new Float64Array(numClasses);
  let confidence = 0;
  let confident = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 0; j < numClasses; j++) {
      const p = probs[i * numClasses + j]!;
      marginal[j]! += p / n;
      if (p > probs[i * numClasses + best]!) best = j;
    }
    counts[best]! += 1;
    if (asked && asked[i] === best) matched += 1;
    confidence += probs[i * numClasses + best]! / n;
    // Probabilities are float32: 0.9 itself is stored just below 0.9.
    if (probs[i * numClasses + best]! >= Math.fround(CONFIDENT_PROBABILITY)) confident += 1;
  }
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < numClasses; j++) {
      const p = probs[i * numClasses + j]!;
      if (p > 0) kl += (p * Math.log(p / Math.max(marginal[j]!, 1e-30))) / n;
    }
  }
  const shares = Array.from(counts, (c) => c / n);
  let entropy = 0;
  for (const s of shares) if (s > 0) entropy -= s * Math.log(s);
  return {
    inceptionScore: Math.exp(kl),
    modesCovered: shares.filter((s) => s >= MODE_SHARE / numClasses).length,
    numClasses,
    classBalance: numClasses > 1 ? entropy / Math.log(numClasses) : 1,
    classShares: shares,
    confidence,
    confidentShare: confident / n,
    smallestClassShare: Math.min(...shares),
    ...(asked ? { classMatch: matched / n } : {}),
  };
}

/**
 * Scores generated samples against a reference set (the test set) in the feature space of a
 * classifier trained on the real data. The reference statistics are computed once.
 */
export class Evaluator {
  readonly reference: GaussianStats;
  readonly protocol: Omit<EvaluationProtocol, 'samples'>;

  constructor(
    readonly classifier: Classifier,
    reference: { images: Float32Array; name: string; split?: string },
  ) {
    const e = classifier.embed(reference.images);
    this.reference = featureStats(e.features, FEATURE_DIM);
    this.protocol = {
      dataset: reference.name,
      featureLayer: FEATURE_LAYER,
      featureDim: FEATURE_DIM,
      referenceSamples: e.count,
      referenceSplit: reference.split ?? 'test',
    };
  }

  /**
   * Scores `samples` (flat NHWC in [-1, 1], the generator's output); `asked`: the class each was
   * asked for (conditional models).
   */
  evaluate(samples: Float32Array, asked?: Int32Array): SampleQuality {
    return this.score(this.classifier.embed(samples), asked);
  }

  dispose(): void {
    this.classifier.dispose();
  }

  score(e: Embedding, asked?: Int32Array): SampleQuality {
    if (e.count < 2) throw new RangeError(`the FID needs at least 2 samples, got ${e.count}`);
    const fid = frechetDistance(featureStats(e.features, FEATURE_DIM), this.reference);
    return {
      fid,
      ...labelStatistics(e.probs, this.classifier.spec.numClasses, asked),
      samples: e.count,
    };
  }
}
