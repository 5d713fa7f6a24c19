import { fileURLToPath } from 'node:url';
import { build } from 'esbuild-wasm';

/** The page's script and style sheet, bundled with uPlot: the page needs no network. */
export interface ClientAssets {
  js: string;
  css: string;
}

/** Thrown when the page's bundle cannot be built (a broken install, a syntax error). */
export class DashboardBuildError extends Error {
  override readonly name = 'DashboardBuildError';
  readonly code = 'DASHBOARD_BUILD_FAILED';
  constructor(detail: string, options?: ErrorOptions) {
    super(
      `the dashboard page could not be bundled: ${detail}. ` +
        'Reinstall the dependencies (npm ci) and check libs/dashboard/src/client.',
      options,
    );
  }
}

let bundled: Promise<ClientAssets> | undefined;

/**
 * Bundles src/client in memory, once per process, on first use. esbuild's WebAssembly build
 * is used because it needs no platform binary: the service images install without optional
 * packages, and the same source is served in development and in production.
 */
export function clientAssets(): Promise<ClientAssets> {
  bundled ??= bundle().catch((err: unknown) => {
    bundled = undefined; // a later request may try again
    throw err instanceof DashboardBuildError
      ? err
      : new DashboardBuildError(err instanceof Error ? err.message : String(err), { cause: err });
  });
  return bundled;
}

async function bundle(): Promise<ClientAssets> {
  const entry = fileURLToPath(new URL('../src/client/main.ts', import.meta.url));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    outdir: 'dashboard',
    entryNames: 'dashboard',
    format: 'iife',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const css = result.outputFiles.find((f) => f.path.endsWith('.css'));
  if (!js || !css) throw new DashboardBuildError('esbuild wrote no script or no style sheet');
  return { js: js.text, css: css.text };
}
