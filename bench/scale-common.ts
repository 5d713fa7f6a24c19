import { ringOfGaussians, type Dataset } from '@distgan/data';
import type { ModelSpec } from '@distgan/gan';

/** bench:scale's models: the 2D ring's small MLPs, so that its figures are the system's cost. */
export const SCALE_SPEC: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 2 };
export const SCALE_ADAM = { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 };
export const scaleData = (): Dataset => ringOfGaussians({ count: 40_000, seed: 1 });
export const scaleDeviceId = (k: number): string => `dev-${k}`;
