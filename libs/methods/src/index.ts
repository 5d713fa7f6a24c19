import type { ModelSpec } from '@distgan/gan';
import { METHODS, type DeviceMethod, type MethodName, type ServerMethod } from '@distgan/engine';
import type { MethodSettings } from './settings.js';
import { CentralizedServer, type PooledData } from './centralized.js';
import { DistganDevice, DistganServer } from './distgan.js';
import { FlGanDevice, FlGanServer } from './fl-gan.js';
import { MdGanDevice, MdGanServer } from './md-gan.js';
import { AveragedGeneratorMethod } from './averaged.js';

export { AveragedGeneratorMethod } from './averaged.js';
export { CentralizedServer, type PooledData } from './centralized.js';
export {
  localTrainingOf,
  methodSettingsOf,
  type MethodSettings,
  type TrainingSettings,
} from './settings.js';
export { DistganDevice, DistganServer } from './distgan.js';
export { FlGanDevice, FlGanServer } from './fl-gan.js';
export { MdGanDevice, MdGanServer } from './md-gan.js';

/**
 * Whether a method's server takes the generator steps itself, so that they may have a batch of
 * their own (GENERATOR_BATCH_SIZE): MD-GAN's generator update is fed back from the devices'
 * batches, FL-GAN's generator steps run on the devices.
 */
export function takesGeneratorBatch(name: MethodName): boolean {
  return name === 'distgan' || name === 'centralized';
}

function unknown(name: string): RangeError {
  return new RangeError(`unknown method "${name}": use ${METHODS.join(', ')}`);
}

/** A method's server side. Centralized training needs all the data (`pooled`). */
export function createServerMethod(
  name: MethodName,
  settings: MethodSettings,
  pooled?: PooledData,
): ServerMethod {
  const method = createTrainedMethod(name, settings, pooled);
  return settings.generatorAverage > 0
    ? new AveragedGeneratorMethod(method, settings.spec, settings.generatorAverage)
    : method;
}

function createTrainedMethod(
  name: MethodName,
  settings: MethodSettings,
  pooled?: PooledData,
): ServerMethod {
  if (settings.generatorBatchSize !== undefined && !takesGeneratorBatch(name))
    throw new RangeError(
      `a generator batch size applies to distgan and centralized only: ${name}'s generator update ` +
        `takes BATCH_SIZE (${name === 'md-gan' ? "it is fed back from the devices' batches" : 'its generator steps run on the devices'})`,
    );
  switch (name) {
    case 'distgan':
      return new DistganServer(settings);
    case 'fl-gan':
      return new FlGanServer(settings);
    case 'md-gan':
      return new MdGanServer(settings);
    case 'centralized':
      if (!pooled) throw new RangeError('centralized training needs all the data on the server');
      return new CentralizedServer(settings, pooled);
    default:
      throw unknown(String(name));
  }
}

/** A method's device side; centralized training has none. */
export function createDeviceMethod(name: MethodName, spec: ModelSpec): DeviceMethod {
  switch (name) {
    case 'distgan':
      return new DistganDevice(spec);
    case 'fl-gan':
      return new FlGanDevice(spec);
    case 'md-gan':
      return new MdGanDevice(spec);
    case 'centralized':
      throw new RangeError('centralized training runs on the server alone: it has no devices');
    default:
      throw unknown(String(name));
  }
}
