import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeWeights } from '@distgan/protocol';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const PNG = [0x89, 0x50, 0x4e, 0x47];

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isPng = (path: string): boolean => PNG.every((b, i) => readFileSync(path)[i] === b);

describe('the embedded CLI', () => {
  it('a short real run writes every artefact, and its generator loads again', () => {
    const out = mkdtempSync(join(tmpdir(), 'distgan-cli-'));
    const r = cli([
      '--rounds',
      '4',
      '--devices',
      '3',
      '--limit',
      '600',
      '--sample-every',
      '2',
      '--sample-count',
      '16',
      '--out',
      out,
      '--run-id',
      'cli-test',
      '--no-progress',
      '--partition',
      'dirichlet',
      '--alpha',
      '0.5',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^backend: (wasm|tensorflow|cpu) /m);
    assert.match(r.stdout, /done: 4 rounds in/);
    const dir = join(out, 'cli-test');

    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(config.devices, 3);
    assert.equal(config.partition, 'dirichlet');
    // Unset, the generator's batch is absent: the configs (and cell fingerprints) of runs that
    // never set it stay as they were.
    assert.ok(!('generatorBatchSize' in config), 'GENERATOR_BATCH_SIZE absent when unset');
    assert.equal(config.conditional, true, 'conditional models by default');
    assert.equal(config.data.shards.length, 3);
    assert.equal(
      config.data.shards.reduce((s: number, d: { samples: number }) => s + d.samples, 0),
      600,
    );

    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.round),
      [0, 1, 2, 3],
    );
    // The evaluation after the last round scores how often a sample is of the class it asked for.
    const match = lines.at(-1).eval.classMatch;
    assert.ok(match >= 0 && match <= 1, `classMatch ${match}`);
    for (const l of lines) {
      assert.ok(Number.isFinite(l.losses.d) && Number.isFinite(l.losses.g));
      assert.ok(l.phases.totalMs > 0 && l.phases.generatorMs > 0 && l.phases.broadcastMs > 0);
      assert.ok(l.bytes.down > 0 && l.bytes.up > 0);
      assert.equal(l.outcomes.accepted, 3);
    }

    const grids = readdirSync(join(dir, 'samples')).sort();
    assert.deepEqual(grids, ['round-000002.png', 'round-000004.png']);
    for (const g of grids) assert.ok(isPng(join(dir, 'samples', g)));
    assert.ok(isPng(join(dir, 'losses.png')));

    const manifest = JSON.parse(readFileSync(join(dir, 'generator.json'), 'utf8'));
    assert.equal(manifest.round, 3);
    assert.equal(
      manifest.modelSpec.classes,
      10,
      "the saved generator is conditional on MNIST's classes",
    );
    decodeWeights(readFileSync(join(dir, 'generator.dgwb'))); // verifies checksum and values

    const s = cli(['sample', dir, '--count', '9', '--output', join(dir, 'again.png')]);
    assert.equal(s.status, 0, s.stderr);
    assert.ok(isPng(join(dir, 'again.png')));
  });

  it('--no-conditional trains unconditional models', () => {
    const out = mkdtempSync(join(tmpdir(), 'distgan-cli-'));
    const r = cli(
      ['--rounds', '1', '--devices', '2', '--limit', '200', '--no-conditional'].concat([
        '--out',
        out,
        '--run-id',
        'plain',
        '--no-progress',
      ]),
    );
    assert.equal(r.status, 0, r.stderr);
    const dir = join(out, 'plain');
    assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).conditional, false);
    const last = JSON.parse(
      readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!,
    );
    assert.ok(
      Number.isFinite(last.fid) && !('classMatch' in last.eval),
      'no class match without classes',
    );
    const manifest = JSON.parse(readFileSync(join(dir, 'generator.json'), 'utf8'));
    assert.equal(manifest.modelSpec.classes, undefined);
    const d = decodeWeights(readFileSync(join(dir, 'discriminator.dgwb')));
    assert.deepEqual(d.specs.find((x) => x.name === 'd/logit/kernel')?.shape, [3136, 1]);
  });

  it('refuses a bad value with a clear message and a non-zero exit, writing nothing', () => {
    const out = mkdtempSync(join(tmpdir(), 'distgan-cli-'));
    for (const [args, message] of [
      [['--devices', '0'], /--devices.*expected a whole number from 1 to 1024, got 0/],
      [['--rounds', 'ten'], /--rounds.*expected a whole number of 1 or more, got "ten"/],
      [['--rounds', '2.5'], /--rounds.*expected a whole number of 1 or more, got "2.5"/],
      [['--schedule', 'async'], /--schedule.*Allowed choices are serial, parallel/],
      [['--lr-d', '-1'], /--lr-d.*expected a number above 0, got -1/],
      [['--beta2', '1'], /--beta2.*expected a number in \[0, 1\), got 1/],
      [['--dataset', 'cifar10'], /--dataset cifar10 needs --data-dir/],
      [['--run-id', 'a b'], /--run-id.*expected 1-63 letters, digits, '-' or '_'/],
      [
        ['--device-thread-heap-mb', '-5'],
        /--device-thread-heap-mb.*expected a whole number from 0 to 65536, got -5/,
      ],
      [['--device-threads', 'x'], /--device-threads.*expected auto or a whole number from 0 to 64/],
      [['--blob-digest', 'md5'], /--blob-digest.*Allowed choices are auto, blake3, sha256/],
      [
        ['--method', 'fl-gan', '--generator-batch-size', '64'],
        /--generator-batch-size applies to distgan and centralized; fl-gan's generator update takes --batch-size/,
      ],
      [
        ['--dataset', 'ring', '--model', 'mlp', '--latent-dim', '8'],
        /--latent-dim 8 is too short for a conditional model over ring's 8 classes.*--no-conditional/,
      ],
    ] as const) {
      const r = cli([...args, '--out', out]);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.deepEqual(readdirSync(out), []);
  });

  it('prints help with every option that matters', () => {
    const r = cli(['train', '--help']);
    assert.equal(r.status, 0);
    for (const flag of [
      '--devices',
      '--rounds',
      '--schedule',
      '--local-steps',
      '--batch-size',
      '--lr-d',
      '--lr-g',
      '--model',
      '--dataset',
      '--partition',
      '--alpha',
      '--seed',
      '--out',
      '--device-threads',
      '--device-thread-heap-mb',
      '--blob-digest',
      '--no-conditional',
    ]) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });

  it('says which backend TFJS_BACKEND forces, or why it cannot', () => {
    const r = cli(
      [
        '--rounds',
        '1',
        '--limit',
        '64',
        '--devices',
        '2',
        '--out',
        mkdtempSync(join(tmpdir(), 'distgan-cli-')),
        '--no-progress',
      ],
      {
        TFJS_BACKEND: 'tensorflow',
      },
    );
    if (r.status === 0) {
      assert.match(r.stdout, /^backend: tensorflow/m);
    } else {
      assert.match(
        r.stderr,
        /TFJS_BACKEND="tensorflow" asks for @tensorflow\/tfjs-node, which cannot be used here/,
      );
    }
    assert.ok(!existsSync('runs/undefined'));
  });
});
