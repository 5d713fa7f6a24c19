import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadDataset, type DatasetId } from '@distgan/data';
import { committedClassifierPath, loadClassifier } from './classifier.js';
import { Evaluator } from './evaluator.js';

export interface EvaluatorOptions {
  dataset: DatasetId;
  /** Folder with the dataset's original files (Fashion-MNIST, CIFAR-10). */
  dataDir?: string;
  /** A classifier card (JSON) to use instead of the committed one. */
  classifier?: string;
}

/** A classifier that is not there: says how to train one. */
export class ClassifierNotFoundError extends Error {
  readonly code = 'CLASSIFIER_NOT_FOUND';
  constructor(dataset: string, path: string) {
    super(
      `no FID classifier for ${dataset} at ${path}: train one with ` +
        `npm run train:classifier -- --dataset ${dataset}${dataset === 'mnist' ? '' : ' --data-dir DIR'}`,
    );
    this.name = 'ClassifierNotFoundError';
  }
}

/**
 * The evaluator of a dataset: its classifier (the committed one unless another card is given)
 * and the statistics of its whole test split.
 */
export async function loadEvaluator(opts: EvaluatorOptions): Promise<Evaluator> {
  if (opts.dataset === 'ring') {
    throw new RangeError('the ring has no classifier: it is scored by mode coverage');
  }
  const card = opts.classifier ?? committedClassifierPath(opts.dataset);
  const path = card instanceof URL ? fileURLToPath(card) : card;
  if (!existsSync(path)) throw new ClassifierNotFoundError(opts.dataset, path);
  const test = await loadDataset({ name: opts.dataset, dir: opts.dataDir, split: 'test' });
  const { classifier, card: info } = loadClassifier(path);
  const shape = test.sampleShape.join('×');
  if (info.inputShape.join('×') !== shape || info.numClasses !== test.numClasses) {
    classifier.dispose();
    throw new RangeError(
      `the classifier at ${path} takes ${info.inputShape.join('×')} images of ${info.numClasses} classes, ` +
        `${opts.dataset} has ${shape} and ${test.numClasses}`,
    );
  }
  return new Evaluator(classifier, { images: test.images, name: test.name, split: 'test' });
}
