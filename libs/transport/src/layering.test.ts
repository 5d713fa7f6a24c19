import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The adapters and the engine stay free of TensorFlow.js and the GAN code (docs/design.md §2):
 * using the RabbitMQ adapter must not load a numeric library, and neither package may depend on
 * one, directly or through another workspace.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const WORKSPACES: Record<string, string> = {
  '@distgan/protocol': 'libs/protocol',
  '@distgan/data': 'libs/data',
  '@distgan/gan': 'libs/gan',
  '@distgan/engine': 'libs/engine',
  '@distgan/methods': 'libs/methods',
  '@distgan/transport': 'libs/transport',
};

/** Every runtime dependency of a workspace, following the other workspaces it depends on. */
function closure(name: string, seen = new Set<string>()): Set<string> {
  const dir = WORKSPACES[name];
  if (!dir || seen.has(name)) return seen;
  seen.add(name);
  const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    seen.add(dep);
    closure(dep, seen);
  }
  return seen;
}

describe('layering', () => {
  for (const name of ['@distgan/transport', '@distgan/engine']) {
    it(`${name} depends on neither TensorFlow.js nor the GAN code`, () => {
      const deps = [...closure(name)];
      assert.deepEqual(
        deps.filter(
          (d) => d.startsWith('@tensorflow/') || d === '@distgan/gan' || d === '@distgan/methods',
        ),
        [],
        deps.join(', '),
      );
    });
  }

  it('loading @distgan/transport loads no TensorFlow.js', () => {
    assert.deepEqual(tensorflowLoadedBy('@distgan/transport', 'libs/transport'), false);
  });

  it('the check above sees TensorFlow.js when it is loaded', () => {
    assert.deepEqual(tensorflowLoadedBy('@distgan/methods', 'libs/methods'), true);
  });
});

/** Whether importing the package, in a process of its own, loads TensorFlow.js. */
function tensorflowLoadedBy(pkg: string, dir: string): boolean {
  // tfjs-core creates its engine in a global the moment it is imported.
  const out = execFileSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `await import('${pkg}'); console.log(JSON.stringify('_tfengine' in globalThis));`,
    ],
    { cwd: join(root, dir), encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as boolean;
}
