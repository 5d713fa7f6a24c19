/*
 * Trains the FID feature extractor of one dataset and writes its weights and card to
 * libs/eval/classifiers/ (or --out):
 *   npm run train:classifier -- --dataset mnist [--epochs 4] [--data-dir DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Presets, SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { gatherBatch, loadDataset, Rng, type DatasetId } from '@distgan/data';
import { Adam, describeBackend, initBackend } from '@distgan/gan';
import { decodeWeights } from '@distgan/protocol';
import {
  Classifier,
  CLASSIFIERS_DIR,
  encodeClassifier,
  FEATURE_LAYER,
  type ClassifierCard,
} from '../classifier.js';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a positive whole number.');
  return n;
};

const program = new Command('train-classifier')
  .description('train the classifier whose features the FID is computed in')
  .addOption(
    new Option('--dataset <name>', 'dataset')
      .choices(['mnist', 'fashion-mnist', 'cifar10'])
      .default('mnist'),
  )
  .option('--data-dir <dir>', 'folder with the original files (fashion-mnist, cifar10)')
  .addOption(new Option('--epochs <n>', 'passes over the training set').argParser(int).default(4))
  .addOption(new Option('--batch-size <b>', 'minibatch size').argParser(int).default(128))
  .addOption(new Option('--lr <rate>', 'Adam learning rate').argParser(Number).default(1e-3))
  .addOption(new Option('--seed <n>', 'seed').argParser(int).default(1))
  .option('--out <dir>', 'output folder', fileURLToPath(CLASSIFIERS_DIR))
  .parse();

const opts = program.opts<{
  dataset: DatasetId;
  dataDir?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  out: string;
}>();

const backend = await initBackend({ log: (m) => console.error(m) });
console.error(`backend: ${describeBackend(backend)}`);
const train = await loadDataset({ name: opts.dataset, dir: opts.dataDir, split: 'train' });
const test = await loadDataset({ name: opts.dataset, dir: opts.dataDir, split: 'test' });
const classifier = new Classifier(
  { inputShape: train.sampleShape, numClasses: train.numClasses },
  opts.seed,
);
const optimizer = new Adam(classifier.params.vars, {
  learningRate: opts.lr,
  beta1: 0.9,
  beta2: 0.999,
});
const rng = new Rng(opts.seed);
const steps = Math.floor(train.count / opts.batchSize);
const bar = new SingleBar(
  { format: 'epoch {epoch} [{bar}] {value}/{total} steps | loss {loss} | {duration_formatted}' },
  Presets.shades_classic,
);
const t0 = performance.now();
let accuracy = 0;
for (let epoch = 1; epoch <= opts.epochs; epoch++) {
  const order = rng.shuffle(Int32Array.from({ length: train.count }, (_, i) => i));
  const batch = new Float32Array((opts.batchSize * train.images.length) / train.count);
  const labels = new Uint8Array(opts.batchSize);
  bar.start(steps, 0, { epoch, loss: '-' });
  let lossSum = 0;
  for (let s = 0; s < steps; s++) {
    const idx = order.subarray(s * opts.batchSize, (s + 1) * opts.batchSize);
    gatherBatch(train, idx, batch);
    for (let i = 0; i < idx.length; i++) labels[i] = train.labels[idx[i]!]!;
    lossSum += classifier.trainStep(optimizer, batch, labels);
    bar.update(s + 1, { epoch, loss: (lossSum / (s + 1)).toFixed(4) });
  }
  bar.stop();
  accuracy = classifier.accuracy(test.images, test.labels);
  console.error(`epoch ${epoch}: test accuracy ${(100 * accuracy).toFixed(2)}%`);
}
const trainSeconds = (performance.now() - t0) / 1000;

mkdirSync(opts.out, { recursive: true });
const weights = `${opts.dataset}.dgwb`;
writeFileSync(join(opts.out, weights), encodeClassifier(classifier));
// The accuracy on the card is that of the weights as stored (float16), not of the float32 copy.
const stored = new Classifier(classifier.spec);
stored.params.setFlat(decodeWeights(encodeClassifier(classifier)).values);
const storedAccuracy = stored.accuracy(test.images, test.labels);
const card: ClassifierCard = {
  dataset: opts.dataset,
  inputShape: train.sampleShape,
  numClasses: train.numClasses,
  featureLayer: FEATURE_LAYER,
  testAccuracy: Number(storedAccuracy.toFixed(4)),
  testSamples: test.count,
  epochs: opts.epochs,
  batchSize: opts.batchSize,
  learningRate: opts.lr,
  seed: opts.seed,
  backend: backend.name,
  trainSeconds: Math.round(trainSeconds),
  weights,
};
writeFileSync(join(opts.out, `${opts.dataset}.json`), JSON.stringify(card, null, 2) + '\n');
console.log(
  `${opts.dataset}: test accuracy ${(100 * storedAccuracy).toFixed(2)}% (float32 ${(100 * accuracy).toFixed(2)}%), ` +
    `${trainSeconds.toFixed(0)} s; wrote ${join(opts.out, weights)}`,
);
stored.dispose();
classifier.dispose();
optimizer.dispose();
