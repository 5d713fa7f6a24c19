import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * Builds every image the end-to-end suite runs, from the project's own Dockerfiles and the small
 * ones in e2e/images, on Debian bases made locally with mmdebstrap (no image registry is needed).
 * Each image is tagged with a key of its content (its Dockerfile, its build context's files, its
 * base images), and one that exists already is not built again.
 *
 *   distgan-e2e/base-runtime   Debian trixie, Node (Debian's nodejs), CA certificates, user 1000
 *   distgan-e2e/base-build     + npm, the build machine's CA bundle for the registry
 *   distgan-e2e/rabbitmq, redis, prometheus   Debian's packages on the runtime base
 *   distgan-e2e/server, device                services/{server,device}/Dockerfile
 *   distgan-e2e/device-gpu-build              services/device/Dockerfile.gpu up to its CUDA base
 */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const IMAGES_DIR = join(ROOT, 'e2e', 'images');
const PREFIX = 'distgan-e2e';
const SUITE = 'trixie';
/** What the runtime base holds; part of its key. */
const BASE_RECIPE = {
  suite: SUITE,
  variant: 'apt',
  include: ['ca-certificates', 'nodejs'],
  // As the official slim images do: no manuals, documentation (but copyrights) or translations.
  dpkgopt: [
    'path-exclude=/usr/share/man/*',
    'path-exclude=/usr/share/doc/*',
    'path-include=/usr/share/doc/*/copyright',
    'path-exclude=/usr/share/locale/*',
    'path-exclude=/usr/share/info/*',
  ],
  // The official Node images' user: uid and gid 1000, named node.
  user: 'node:x:1000:1000::/home/node:/bin/sh',
};

export interface BuiltImage {
  name: string;
  tag: string;
  cached: boolean;
  seconds: number;
  bytes: number;
}

export interface Images {
  server: string;
  device: string;
  rabbitmq: string;
  redis: string;
  prometheus: string;
  built: BuiltImage[];
}

type Log = (line: string) => void;

const sha = (...parts: (string | Buffer)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
};

function docker(args: string[]): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout.trim();
}

/** True when a Docker engine answers; the reason otherwise. */
export function engineStatus(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (r.error) return { ok: false, reason: `the docker command: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: r.stderr.trim() || `docker exited ${r.status}` };
  return { ok: true, version: r.stdout.trim() };
}

/** An image's id and size, or undefined when there is no such image. */
function inspectImage(ref: string): { id: string; bytes: number } | undefined {
  const r = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}} {{.Size}}', ref], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return undefined;
  const [id, size] = r.stdout.trim().split(' ');
  return { id: id!, bytes: Number(size) };
}

/**
 * Removes the other tags of an image's repository (older content), so that repeated builds do
 * not fill the disk. An image still used by a container, or as another image's base, stays.
 */
function removeStale(name: string, current: string, log: Log): void {
  const tags = docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `${PREFIX}/${name}`])
    .split('\n')
    .filter((t) => t && t !== current);
  for (const tag of tags) {
    const r = spawnSync('docker', ['image', 'rm', tag], { encoding: 'utf8' });
    if (r.status === 0) log(`removed ${tag} (older content)`);
  }
}

/** Runs a command with its output streamed through `log`, line by line, prefixed. */
function run(
  cmd: string,
  args: string[],
  log: Log,
  prefix: string,
  env = process.env,
): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const lines = (d: Buffer): void => {
      tail = (tail + d.toString()).slice(-8000);
      for (const l of d.toString().split('\n')) if (l.trim()) log(`${prefix} ${l}`);
    };
    child.stdout.on('data', lines);
    child.stderr.on('data', lines);
    child.on('error', fail);
    child.on('exit', (code) =>
      code === 0
        ? done()
        : fail(
            new Error(
              `${cmd} ${args.slice(0, 3).join(' ')} … exited ${code}: ${tail.slice(-2000)}`,
            ),
          ),
    );
  });
}

/** The files of the repository under `paths` (tracked, or new and not ignored), sorted. */
function repoFiles(paths: string[]): string[] {
  const r = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z', '--', ...paths], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`git ls-files: ${r.stderr}`);
  return r.stdout
    .split('\0')
    .filter((f) => f && existsSync(join(ROOT, f)))
    .sort();
}

const contentKey = (files: string[]): string =>
  sha(...files.flatMap((f) => [f, readFileSync(join(ROOT, f))]));

/** What the project's Dockerfiles COPY from the repository (see their build stage). */
const APP_CONTEXT = [
  'package.json',
  'package-lock.json',
  'tsconfig.base.json',
  'libs',
  'services',
  'e2e/package.json',
  'scripts/stage-app.mjs',
  '.dockerignore',
];

/** The CA bundle that the build machine's Node trusts (NODE_EXTRA_CA_CERTS or the system's). */
function caBundle(): string {
  for (const f of [process.env['NODE_EXTRA_CA_CERTS'], '/etc/ssl/certs/ca-certificates.crt'])
    if (f && existsSync(f)) return f;
  throw new Error(
    'no CA bundle: set NODE_EXTRA_CA_CERTS to the file npm needs to trust the registry',
  );
}

function npmRegistry(): string {
  const r = spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' });
  const url = r.status === 0 ? r.stdout.trim() : '';
  return /^https?:\/\//.test(url)
    ? url.replace(/\/\/[^/@]*@/, '//')
    : 'https://registry.npmjs.org/';
}

export async function buildImages(log: Log = console.log): Promise<Images> {
  const engine = engineStatus();
  if (!engine.ok) throw new Error(`no Docker engine: ${engine.reason}`);
  const built: BuiltImage[] = [];

  /** Builds `name:key` unless it exists; its reference and image id. */
  const ensure = async (
    name: string,
    key: string,
    make: (ref: string) => Promise<void>,
  ): Promise<{ ref: string; id: string }> => {
    const ref = `${PREFIX}/${name}:${key}`;
    const start = Date.now();
    let image = inspectImage(ref);
    const cached = image !== undefined;
    if (!image) {
      log(`building ${ref}`);
      await make(ref);
      image = inspectImage(ref);
      if (!image) throw new Error(`${ref} was built but the engine does not have it`);
    }
    const seconds = (Date.now() - start) / 1000;
    removeStale(name, ref, log);
    built.push({ name, tag: ref, cached, seconds, bytes: image.bytes });
    log(
      `${cached ? 'cached' : 'built '} ${ref.padEnd(44)} ${(image.bytes / 1e6).toFixed(0).padStart(5)} MB ${cached ? '' : `in ${seconds.toFixed(1)} s`}`,
    );
    return { ref, id: image.id };
  };

  const build = (
    ref: string,
    dockerfile: string,
    context: string,
    args: Record<string, string>,
    extra: string[] = [],
  ) =>
    run(
      'docker',
      [
        'build',
        '--network',
        'host',
        '-f',
        dockerfile,
        '-t',
        ref,
        ...Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
        ...extra,
        context,
      ],
      log,
      `  [${ref.split('/')[1]!.split(':')[0]}]`,
      { ...process.env, DOCKER_BUILDKIT: '0' },
    );

  // The runtime base: mmdebstrap's tarball, imported.
  const { ref: runtimeBase, id: runtimeId } = await ensure(
    'base-runtime',
    sha(JSON.stringify(BASE_RECIPE)),
    async (ref) => {
      if (spawnSync('mmdebstrap', ['--version']).status !== 0)
        throw new Error(
          "mmdebstrap is missing: apt-get install mmdebstrap (it makes the images' Debian base)",
        );
      const dir = mkdtempSync(join(tmpdir(), 'distgan-base-'));
      try {
        const tar = join(dir, 'base.tar');
        await run(
          'mmdebstrap',
          [
            `--variant=${BASE_RECIPE.variant}`,
            `--include=${BASE_RECIPE.include.join(',')}`,
            ...BASE_RECIPE.dpkgopt.map((o) => `--dpkgopt=${o}`),
            `--customize-hook=echo '${BASE_RECIPE.user}' >> "$1/etc/passwd"`,
            `--customize-hook=echo 'node:x:1000:' >> "$1/etc/group"`,
            `--customize-hook=mkdir -p "$1/home/node" && chown 1000:1000 "$1/home/node"`,
            SUITE,
            tar,
          ],
          log,
          '  [base-runtime]',
        );
        docker(['import', '--change', 'CMD ["node"]', tar, ref]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  const ca = caBundle();
  const registry = npmRegistry();
  const nodeBuildDir = join(IMAGES_DIR, 'node-build');
  const { ref: buildBase, id: buildId } = await ensure(
    'base-build',
    sha(runtimeId, readFileSync(join(nodeBuildDir, 'Dockerfile')), readFileSync(ca), registry),
    async (ref) => {
      const dir = mkdtempSync(join(tmpdir(), 'distgan-build-base-'));
      try {
        copyFileSync(join(nodeBuildDir, 'Dockerfile'), join(dir, 'Dockerfile'));
        copyFileSync(ca, join(dir, 'build-ca.crt'));
        await build(ref, join(dir, 'Dockerfile'), dir, {
          BASE: runtimeBase,
          NPM_REGISTRY: registry,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  const service = async (name: string): Promise<string> => {
    const dockerfile = join(IMAGES_DIR, name, 'Dockerfile');
    const image = await ensure(name, sha(runtimeId, readFileSync(dockerfile)), (ref) =>
      build(ref, dockerfile, join(IMAGES_DIR, name), { BASE: runtimeBase }),
    );
    return image.ref;
  };
  const rabbitmq = await service('rabbitmq');
  const redis = await service('redis');
  const prometheus = await service('prometheus');

  const appKey = contentKey(repoFiles(APP_CONTEXT));
  const baseArgs = { NODE_IMAGE: buildBase, RUNTIME_IMAGE: runtimeBase };
  const app = async (name: string, dockerfile: string, target?: string): Promise<string> => {
    const image = await ensure(
      name,
      sha(runtimeId, buildId, appKey, readFileSync(join(ROOT, dockerfile)), target ?? ''),
      (ref) =>
        build(ref, join(ROOT, dockerfile), ROOT, baseArgs, target ? ['--target', target] : []),
    );
    return image.ref;
  };
  const server = await app('server', 'services/server/Dockerfile');
  const device = await app('device', 'services/device/Dockerfile');
  // The GPU image's CUDA base cannot be pulled here: its build stage (the same text as the CPU
  // images', so mostly cached layers) is built and checked.
  await app('device-gpu-build', 'services/device/Dockerfile.gpu', 'build');

  return { server, device, rabbitmq, redis, prometheus, built };
}
