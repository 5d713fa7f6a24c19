#!/usr/bin/env node
// Stages what the service images run into one folder: the compiled JavaScript and production
// dependencies, nothing else. Run from the repository root after `tsc -b`, inside the images'
// build stage:
//   node scripts/stage-app.mjs <out>
//
// - Every workspace's package.json is staged (npm ci checks them against the lockfile), but
//   only the workspaces that the services import bring their files: each package's `files`
//   field (default: dist), without tests, declarations, source maps or build info.
// - Dependencies: `npm ci --omit=dev --omit=optional --ignore-scripts`. The optional
//   dependencies are the native TensorFlow builds (tfjs-node, tfjs-node-gpu), which the CPU
//   images do not carry (the wasm backend runs there; the GPU image adds tfjs-node-gpu itself),
//   and the native BLAKE3 binaries of @napi-rs/blake-hash, of which the one for this platform is
//   added back from the registry at the lockfile's version, and checked to load.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/stage-app.mjs <out>');
  process.exit(2);
}
const RUNTIME_WORKSPACES = new Set([
  'libs/protocol',
  'libs/data',
  'libs/gan',
  'libs/eval',
  'libs/telemetry',
  'libs/engine',
  'libs/methods',
  'libs/run',
  'libs/transport',
  'libs/dashboard',
  'services/server',
  'services/device',
]);
const LEFT_OUT = [
  /\.test\.[cm]?[jt]s$/,
  /\.d\.[cm]?ts$/,
  /\.map$/,
  /\.tsbuildinfo$/,
  /\/fixtures\//,
];

const root = JSON.parse(readFileSync('package.json', 'utf8'));
const workspaces = root.workspaces.flatMap((w) =>
  w.endsWith('/*')
    ? readdirSync(w.slice(0, -2))
        .map((d) => `${w.slice(0, -2)}/${d}`)
        .filter((d) => existsSync(join(d, 'package.json')))
    : [w],
);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of ['package.json', 'package-lock.json']) cpSync(f, join(out, f));
let files = 0;
for (const ws of workspaces) {
  mkdirSync(join(out, ws), { recursive: true });
  cpSync(join(ws, 'package.json'), join(out, ws, 'package.json'));
  if (!RUNTIME_WORKSPACES.has(ws)) continue;
  const pkg = JSON.parse(readFileSync(join(ws, 'package.json'), 'utf8'));
  for (const entry of pkg.files ?? ['dist']) {
    const from = join(ws, entry);
    if (!existsSync(from)) throw new Error(`${ws}: "${entry}" (package.json files) does not exist`);
    cpSync(from, join(out, ws, entry), {
      recursive: true,
      filter: (src) => {
        if (statSync(src).isDirectory()) return !/\/fixtures$/.test(src);
        const keep = !LEFT_OUT.some((re) => re.test(src));
        if (keep) files++;
        return keep;
      },
    });
  }
}

const npm = (args, cwd = out) =>
  execFileSync('npm', args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
npm(['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund']);

// Files that Node never reads at run time, removed from the installed packages: source maps
// (read only with --enable-source-maps), type declarations, Markdown, and the WeChat
// mini-program bundles of TensorFlow.js. Measured on the server image: 200 MB of maps, 14 MB
// of declarations, 28 MB of mini-program bundles, 3 MB of Markdown, in a 416 MB node_modules.
let pruned = 0;
const prune = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'miniprogram') {
        pruned += sizeOf(path);
        rmSync(path, { recursive: true });
      } else prune(path);
    } else if (/\.(map|d\.[cm]?ts|md|markdown)$/i.test(entry.name)) {
      pruned += statSync(path).size;
      rmSync(path);
    }
  }
};
const sizeOf = (path) =>
  statSync(path).isDirectory()
    ? readdirSync(path).reduce((n, e) => n + sizeOf(join(path, e)), 0)
    : statSync(path).size;
prune(join(out, 'node_modules'));

// The native BLAKE3 for this platform, at the version the lockfile pins.
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const libc = process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl';
const binary = `@napi-rs/blake-hash-${process.platform}-${process.arch}-${libc}`;
const pinned = lock.packages[`node_modules/${binary}`];
if (!pinned) throw new Error(`the lockfile has no ${binary}: no native BLAKE3 for this platform`);
const target = join(out, 'node_modules', binary);
mkdirSync(target, { recursive: true });
const tarball = execFileSync(
  'npm',
  ['pack', '--silent', '--pack-destination', dirname(target), `${binary}@${pinned.version}`],
  { cwd: out, encoding: 'utf8' },
).trim();
execFileSync('tar', ['-xzf', join(dirname(target), tarball), '--strip-components=1', '-C', target]);
rmSync(join(dirname(target), tarball));
execFileSync(process.execPath, ['-e', "require('@napi-rs/blake-hash').blake3(Buffer.alloc(0))"], {
  cwd: out,
  stdio: 'inherit',
});
console.log(
  `staged ${files} files of ${RUNTIME_WORKSPACES.size} workspaces, production dependencies ` +
    `(${(pruned / 1e6).toFixed(0)} MB of maps, declarations and docs removed) and ` +
    `${binary}@${pinned.version} into ${relative(process.cwd(), out) || out}`,
);
