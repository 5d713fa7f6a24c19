import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gatherBatch, loadMnist, Rng, type Dataset } from '@distgan/data';
import { initBackend } from '@distgan/gan';
import { committedClassifierPath, loadClassifier, type Classifier } from './classifier.js';
import { Evaluator, labelStatistics } from './evaluator.js';
import { loadEvaluator } from './load.js';

let test: Dataset;
let classifier: Classifier;

before(async () => {
  await initBackend();
  test = await loadMnist({ split: 'test' });
  classifier = loadClassifier(committedClassifierPath('mnist')).classifier;
});

describe('the committed MNIST classifier', () => {
  it('reaches at least 98% on the whole MNIST test set, as its card says', () => {
    const accuracy = classifier.accuracy(test.images, test.labels);
    const card = JSON.parse(readFileSync(committedClassifierPath('mnist'), 'utf8')) as {
      testAccuracy: number;
    };
    assert.ok(accuracy >= 0.98, `test accuracy ${(100 * accuracy).toFixed(2)}%`);
    assert.ok(
      Math.abs(accuracy - card.testAccuracy) < 1e-3,
      `card ${card.testAccuracy}, measured ${accuracy}`,
    );
  });
});

describe('FID in the classifier feature space', () => {
  it('grows monotonically as Gaussian noise is added to real images', () => {
    // Reference: 5,000 test images; the scored set: 2,000 others, noised. Shuffled first: the
    // test set's two halves come from different writers.
    const rng = new Rng(11);
    const order = rng.shuffle(Int32Array.from({ length: test.count }, (_, i) => i));
    const evaluator = new Evaluator(classifier, {
      images: gatherBatch(test, order.subarray(0, 5000)),
      name: 'mnist',
    });
    const clean = gatherBatch(test, order.subarray(5000, 7000));
    const noise = Float32Array.from(clean, () => rng.normal());
    const fids = [0, 0.1, 0.25, 0.5, 1].map((sigma) => {
      const noised = clean.map((v, i) => Math.max(-1, Math.min(1, v + sigma * noise[i]!)));
      return evaluator.evaluate(noised).fid;
    });
    for (let i = 1; i < fids.length; i++) {
      assert.ok(
        fids[i]! > fids[i - 1]!,
        `FID by noise level: ${fids.map((f) => f.toFixed(2)).join(', ')}`,
      );
    }
    // Two real sets are close; heavy noise is far.
    assert.ok(fids[4]! > 10 * fids[0]!, `FID by noise level: ${fids.join(', ')}`);
  });

  it('scores the real test set as diverse, balanced and recognisable', async () => {
    const evaluator = await loadEvaluator({ dataset: 'mnist' });
    const q = evaluator.evaluate(
      gatherBatch(
        test,
        new Rng(5).shuffle(Array.from({ length: test.count }, (_, i) => i)).slice(0, 2000),
      ),
    );
    assert.equal(q.modesCovered, 10);
    assert.ok(q.classBalance > 0.99, `class balance ${q.classBalance}`);
    assert.ok(q.inceptionScore > 9, `inception-style score ${q.inceptionScore}`);
    // One digit repeated: one mode, no balance, the lowest score.
    const ones = test.images.slice(2 * 784, 3 * 784); // test image 2 is a "1"
    const collapsed = new Float32Array(500 * 784);
    for (let i = 0; i < 500; i++) collapsed.set(ones, i * 784);
    const c = evaluator.evaluate(collapsed);
    assert.equal(c.modesCovered, 1);
    assert.ok(c.classBalance < 0.01 && c.inceptionScore < 1.01);
    assert.ok(c.fid > 20 * q.fid, `collapsed FID ${c.fid}, real ${q.fid}`);
  });
});

describe('label statistics', () => {
  it('computes the inception-style score, coverage and balance of given probabilities', () => {
    // Four confident samples, two classes of three used equally: IS = 2, balance = log 2 / log 3.
    const p = Float32Array.from([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0]);
    const s = labelStatistics(p, 3);
    assert.ok(Math.abs(s.inceptionScore - 2) < 1e-9);
    assert.equal(s.modesCovered, 2);
    assert.ok(Math.abs(s.classBalance - Math.log(2) / Math.log(3)) < 1e-9);
    assert.deepEqual(s.classShares, [0.5, 0.5, 0]);
    assert.equal(s.confidence, 1);
    assert.equal(s.confidentShare, 1);
    assert.equal(s.smallestClassShare, 0);
  });

  it('counts the samples read with confidence (top class ≥ 0.9) and the smallest class share', () => {
    // Top-class probabilities 0.95, 0.9, 0.6, 0.89; classes 0, 1, 1, 2.
    const p = Float32Array.from([0.95, 0.05, 0, 0.1, 0.9, 0, 0.3, 0.6, 0.1, 0.11, 0, 0.89]);
    const s = labelStatistics(p, 3);
    assert.equal(s.confidentShare, 0.5);
    assert.equal(s.smallestClassShare, 0.25);
    assert.equal(s.classMatch, undefined, 'no classes asked for: no match');
  });

  it('with the classes a conditional model asked for, the share labelled with them', () => {
    // Labelled 0, 1, 1, 2 (as above); asked for 0, 1, 2, 0: two match.
    const p = Float32Array.from([0.95, 0.05, 0, 0.1, 0.9, 0, 0.3, 0.6, 0.1, 0.11, 0, 0.89]);
    assert.equal(labelStatistics(p, 3, Int32Array.from([0, 1, 2, 0])).classMatch, 0.5);
    assert.equal(labelStatistics(p, 3, Int32Array.from([0, 1, 1, 2])).classMatch, 1);
    assert.throws(() => labelStatistics(p, 3, Int32Array.from([0, 1])), /2 asked classes for 4/);
  });
});
