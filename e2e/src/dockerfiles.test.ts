import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The Dockerfiles, checked statically. The container suite (containers.e2e.test.ts) builds and
 * runs the server and CPU device images; the GPU image's CUDA base cannot be pulled here, so these
 * checks are what keeps it honest: its build stage is the CPU images' own text (and that stage is
 * built by `npm run images`), and every file any of them copies exists.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const DOCKERFILES = [
  'services/server/Dockerfile',
  'services/device/Dockerfile',
  'services/device/Dockerfile.gpu',
];

interface Instruction {
  op: string;
  args: string;
}

/** Instructions with their continuation lines joined and comments dropped, stage by stage. */
function parse(text: string): Instruction[][] {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const stages: Instruction[][] = [[]];
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim().replace(/\s+/g, ' ') };
    if (ins.op === 'FROM') stages.push([]);
    stages.at(-1)!.push(ins);
  }
  return stages;
}

const stageNamed = (stages: Instruction[][], name: string): Instruction[] | undefined =>
  stages.find((s) => s[0]?.op === 'FROM' && new RegExp(` AS ${name}$`, 'i').test(s[0].args));

/** The patterns of .dockerignore (the build context leaves these out). */
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const isIgnored = (path: string): boolean =>
  ignored.some((p) => {
    const re = new RegExp(
      '^' +
        p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\//g, '(?:.*/)?')
          .replace(/\*/g, '[^/]*') +
        '(?:/.*)?$',
    );
    return re.test(path);
  });

const workspaces = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    workspaces: string[];
  }
).workspaces.flatMap((w) =>
  w.endsWith('/*')
    ? readdirSync(join(root, w.slice(0, -2)))
        .map((d) => `${w.slice(0, -2)}/${d}`)
        .filter((d) => existsSync(join(root, d, 'package.json')))
    : [w],
);

describe('Dockerfiles', () => {
  const parsed = new Map(DOCKERFILES.map((f) => [f, parse(readFileSync(join(root, f), 'utf8'))]));

  for (const f of DOCKERFILES) {
    const stages = parsed.get(f)!;
    const text = readFileSync(join(root, f), 'utf8');

    it(`${f}: every file it copies exists in the build context`, () => {
      for (const ins of stages.flat()) {
        if (ins.op !== 'COPY' && ins.op !== 'ADD') continue;
        if (/--from=/.test(ins.args)) continue;
        const parts = ins.args.split(' ').filter((p) => !p.startsWith('--'));
        assert.ok(parts.length >= 2, `${ins.op} ${ins.args}`);
        for (const src of parts.slice(0, -1)) {
          assert.ok(existsSync(join(root, src)), `${f} copies ${src}, which does not exist`);
          assert.ok(!isIgnored(src), `${f} copies ${src}, which .dockerignore leaves out`);
        }
      }
    });

    it(`${f}: the build stage installs every workspace's manifest, compiles and stages the services`, () => {
      const build = stageNamed(stages, 'build');
      assert.ok(build, 'a stage named build');
      const copied = build
        .filter((i) => i.op === 'COPY')
        .flatMap((i) => i.args.split(' ').slice(0, -1));
      for (const ws of workspaces)
        assert.ok(
          copied.includes(`${ws}/package.json`) || copied.includes(ws),
          `the build stage copies ${ws}/package.json before npm ci (npm ci needs every workspace)`,
        );
      const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
      assert.ok(
        runs.some((r) => /npm ci .*--omit=optional/.test(r)),
        'npm ci without optionals',
      );
      assert.ok(
        runs.some((r) => /tsc -b services\/server services\/device/.test(r)),
        'compiles the two services (and their libraries) only',
      );
      assert.ok(
        runs.some((r) => /node scripts\/stage-app\.mjs \/out/.test(r)),
        'stages /out',
      );
    });

    it(`${f}: the base image is an argument that defaults to the official Node image pinned by digest`, () => {
      const args = stages[0]!.filter((i) => i.op === 'ARG').map((i) => i.args);
      assert.ok(
        args.some((a) => /^NODE_IMAGE=node:20-bookworm-slim@sha256:[0-9a-f]{64}$/.test(a)),
        `ARG NODE_IMAGE pinned by digest (${args.join('; ')})`,
      );
      assert.match(stageNamed(stages, 'build')![0]!.args, /^\$\{NODE_IMAGE\} AS build$/);
    });

    it(`${f}: the runtime runs the compiled JavaScript as user 1000, with a health check`, () => {
      const runtime = stageNamed(stages, 'runtime');
      assert.ok(runtime, 'a stage named runtime');
      assert.equal(stages.at(-1), runtime, 'the runtime stage is the last (the default target)');
      const one = (op: string): string => {
        const found = runtime.filter((i) => i.op === op);
        assert.equal(found.length, 1, `one ${op} in the runtime stage`);
        return found[0]!.args;
      };
      assert.equal(one('USER'), '1000:1000', 'a numeric user, as runAsNonRoot can verify');
      assert.match(one('HEALTHCHECK'), /CMD \["node", "-e", ".*\/healthz.*"\]$/);
      assert.match(one('CMD'), /^\["node", "services\/(server|device)\/dist\/main\.js"\]$/);
      assert.ok(
        runtime.some((i) => i.op === 'COPY' && /^--from=build \/out \.\/$/.test(i.args)),
        'the runtime takes only the staged application from the build',
      );
      assert.ok(
        runtime.some(
          (i) => i.op === 'RUN' && /require\('@napi-rs\/blake-hash'\)\.blake3\(/.test(i.args),
        ),
        'the native BLAKE3 is checked to load in the runtime image',
      );
    });

    it(`${f}: builds with the classic builder and carries no credentials`, () => {
      assert.doesNotMatch(text, /^# ?syntax=/m, 'no syntax line (it would pull a frontend)');
      assert.doesNotMatch(text, /RUN --mount/, 'no BuildKit mounts');
      assert.doesNotMatch(text, /\.npmrc|NPM_TOKEN|_authToken/i, 'no npm credentials');
    });
  }

  it('the three images share one build stage, word for word', () => {
    const [server, ...others] = DOCKERFILES.map((f) => stageNamed(parsed.get(f)!, 'build'));
    for (const [i, other] of others.entries())
      assert.deepEqual(other, server, `${DOCKERFILES[i + 1]}'s build stage is the server's`);
  });

  it('the GPU image runs on the CUDA and cuDNN that tfjs-node-gpu 4.22 needs, and no CPU TensorFlow', () => {
    const stages = parsed.get('services/device/Dockerfile.gpu')!;
    const args = stages[0]!.filter((i) => i.op === 'ARG').map((i) => i.args);
    assert.ok(args.some((a) => /^CUDA_IMAGE=nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-/.test(a)));
    const runtime = stageNamed(stages, 'runtime')!;
    assert.match(runtime[0]!.args, /^\$\{CUDA_IMAGE\} AS runtime$/);
    const install = runtime.find((i) => i.op === 'RUN' && /tfjs-node-gpu@4\.22\.0/.test(i.args));
    assert.ok(install, 'installs tfjs-node-gpu 4.22.0');
    assert.match(install.args, /--ignore-scripts/, 'no install script runs but its own');
    assert.match(install.args, /rm -rf node_modules\/@tensorflow\/tfjs-node /);
    assert.match(install.args, /npm rebuild @tensorflow\/tfjs-node-gpu/);
  });

  it('the CPU images carry no native TensorFlow build', () => {
    for (const f of ['services/server/Dockerfile', 'services/device/Dockerfile'])
      assert.doesNotMatch(readFileSync(join(root, f), 'utf8'), /tfjs-node/, f);
  });
});
