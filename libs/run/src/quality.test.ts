import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeQuality, qualityReport } from './evaluation.js';

describe("the final generator's three numbers", () => {
  it('are measured against FID ≤ 25, every class ≥ 5% and 90% confident', () => {
    const good = qualityReport(1499, 2000, {
      fid: 24.9,
      eval: { smallestClassShare: 0.05, confidentShare: 0.9 },
    })!;
    assert.deepEqual(good.met, {
      fid: true,
      smallestClassShare: true,
      confidentShare: true,
      all: true,
    });
    const short = qualityReport(1499, 2000, {
      fid: 25.1,
      eval: { smallestClassShare: 0.049, confidentShare: 0.95 },
    })!;
    assert.deepEqual(short.met, {
      fid: false,
      smallestClassShare: false,
      confidentShare: true,
      all: false,
    });
    assert.match(
      describeQuality(short),
      /FID 25\.10 \(target ≤ 25: NOT met\), smallest class 4\.9% .*NOT met.*95\.0% classified with confidence ≥ 0\.9 \(target ≥ 90\.0%: met\)/,
    );
  });

  it("a conditional model's class match is reported beside them, with no target", () => {
    const q = qualityReport(1999, 2000, {
      fid: 19,
      eval: { smallestClassShare: 0.08, confidentShare: 0.95, classMatch: 0.93 },
    })!;
    assert.equal(q.classMatch, 0.93);
    assert.equal(q.met.all, true);
    assert.match(describeQuality(q), /; 93\.0% labelled with the class they were asked for$/);
    const plain = qualityReport(1999, 2000, {
      fid: 19,
      eval: { smallestClassShare: 0.08, confidentShare: 0.95 },
    })!;
    assert.ok(!('classMatch' in plain));
    assert.doesNotMatch(describeQuality(plain), /asked for/);
  });

  it('do not exist for the ring (no FID, no classes)', () => {
    assert.equal(
      qualityReport(10, 2000, { eval: { modesCovered: 8, highQuality: 0.9 } }),
      undefined,
    );
  });
});
