import type { DeviceIdentity } from '@distgan/engine';
import { PROTOCOL_VERSION } from '@distgan/protocol';
import type { DataSettings } from './settings.js';

/** The settings that define a device's data and model (a service's config, in domain keys). */
export interface IdentitySettings extends DataSettings {
  method: string;
  partition: string;
  alpha: number;
  shardsPerDevice: number;
  /** Shards of the partition (0: data of its own, or a server that learns it from its devices). */
  numDevices: number;
}

/** What a device must agree on with the run (see identityMismatch in @distgan/engine). */
export function identityOf(c: IdentitySettings): DeviceIdentity {
  return {
    protocol: PROTOCOL_VERSION,
    method: c.method,
    dataset: c.dataset,
    model: c.model,
    modelWidth: c.modelWidth,
    latentDim: c.latentDim,
    conditional: c.conditional,
    seed: c.seed,
    limit: c.limit,
    ringStd: c.ringStd,
    partition: c.partition,
    alpha: c.alpha,
    shardsPerDevice: c.shardsPerDevice,
    numDevices: c.numDevices,
  };
}
