import type { RealBatch } from '@distgan/data';
import type {
  DeviceMethodName,
  DeviceUpdate,
  FlatWeights,
  RoundTask,
  TensorSpec,
} from '@distgan/protocol';

/*
 * A distribution method is a plug-in of the engine (docs/design.md §2): the coordinator and the
 * device runtime do the network (tasks, blobs, verification, deadlines, quorum, retries), and
 * the method says what travels and what is computed at each end. The methods themselves live in
 * @distgan/methods, one file each: distgan (serial and parallel), MD-GAN, FL-GAN, centralized.
 */

/** distgan's update schedules (docs/design.md §1). */
export type Schedule = RoundTask['schedule'];

export type MethodName = DeviceMethodName | 'centralized';
export const METHODS: readonly MethodName[] = ['distgan', 'md-gan', 'fl-gan', 'centralized'];

/** Tensors to store as one blob: given, or written by the caller straight into the blob. */
export type BlobSource =
  FlatWeights | { specs: readonly TensorSpec[]; write: (out: Float32Array) => void };

/** What a round sends: its blobs, who reads which, and what comes back. */
export interface BroadcastPlan {
  /** Stored once each, under the round's key for the name. */
  blobs: Record<string, BlobSource>;
  /** Names of `blobs` every participant reads (the task's `inputs`). */
  shared: readonly string[];
  /** A participant's own inputs: its name for the input → a name of `blobs`. */
  perDevice?: (deviceId: string, rank: number) => Record<string, string>;
  /** The blobs each participant sends back, with the layout each must have. */
  outputs: Record<string, readonly TensorSpec[]>;
  /** Settings of the devices' side beyond the local discriminator's (FL-GAN's generator). */
  training?: Pick<RoundTask['training'], 'generatorSteps' | 'generatorLearningRate'>;
}

/** One participant's accepted update, its outputs decoded (views valid during the round). */
export interface CollectedUpdate {
  deviceId: string;
  /** Its position in the round's (sorted) participants. */
  rank: number;
  samples: number;
  losses: DeviceUpdate['losses'];
  outputs: Record<string, Float32Array>;
}

/** Round t as a method's server side sees it; the coordinator does the network. */
export interface ServerRound {
  readonly t: number;
  /** The round's participants, sorted. */
  readonly participants: readonly string[];
  /** Stores the plan's blobs and publishes the task. */
  broadcast(plan: BroadcastPlan): Promise<void>;
  /**
   * The accepted updates once every participant answered or the deadline passed, ordered by
   * device id; throws when fewer than the quorum were accepted.
   */
  collect(): Promise<CollectedUpdate[]>;
  /**
   * Adds the time `f` takes to a phase of the round's report, and emits its events: averaging
   * (`aggregate`), the generator's steps (`generator`), making the new models current
   * (`install`, counted as aggregation).
   */
  timed<T>(phase: 'aggregate' | 'generator' | 'install', f: () => T): T;
}

/** The server's side of a method: the global models and what a round does with them. */
export interface ServerMethod {
  readonly name: MethodName;
  /** False for centralized training: the server trains alone, on all the data. */
  readonly usesDevices: boolean;
  /**
   * Runs round t; returns the generator's loss (the devices' losses come with their updates).
   * A round that throws leaves the models as they were before it.
   */
  round(r: ServerRound): Promise<{ g: number; d?: { d: number; dReal: number; dFake: number } }>;
  /** Samples of the global generator for latent vectors z (count × latentDim), in [-1, 1]. */
  sample(z: Float32Array): Float32Array;
  generatorWeights(out?: Float32Array): FlatWeights;
  /**
   * The generator samples come from when it is not the trained one: its average over rounds
   * (G_AVERAGE, libs/methods/src/averaged.ts). The final generator a run saves.
   */
  averagedGeneratorWeights?(): FlatWeights;
  /** The discriminator worth saving: the global one, or MD-GAN's first worker's last copy. */
  discriminatorWeights(): FlatWeights | undefined;
  /** Everything a checkpoint must hold to continue the run, by part name. */
  state(): Record<string, FlatWeights>;
  /** The layouts `state()` has, to check a checkpoint against before restoring it. */
  stateSpecs(): Record<string, readonly TensorSpec[]>;
  restore(state: Record<string, Float32Array>): void;
  dispose(): void;
}

/** One task as a method's device side sees it: verified inputs and its data. */
export interface DeviceTask {
  round: number;
  deviceId: string;
  /** The device's position in the round's participants. */
  rank: number;
  seed: number;
  training: RoundTask['training'];
  schedule: Schedule;
  /** Verified and decoded; views of reused buffers, valid until `train` returns. */
  inputs: Record<string, Float32Array>;
  outputs: readonly string[];
  /**
   * True when this round is not the one after the last this device trained: it never trained,
   * missed rounds, or the server resumed from a checkpoint (the round number went back).
   */
  resumed: boolean;
  /**
   * `batchSize` real samples and their labels from the device's shard for local step `step`
   * (reused buffers).
   */
  realBatch(step: number): RealBatch;
}

export interface DeviceResult {
  losses: DeviceUpdate['losses'];
  /** Whether the device's local optimizer state started afresh this round. */
  optimizerReset: boolean;
  /** Local steps taken. */
  steps: number;
  outputs: Record<string, BlobSource>;
}

/** A device's side of a method: its local models and one round of local training. */
export interface DeviceMethod {
  readonly name: MethodName;
  /** The layout input `name` of a task must have; undefined when the method has no such input. */
  inputSpecs(name: string, training: RoundTask['training']): readonly TensorSpec[] | undefined;
  train(task: DeviceTask): DeviceResult;
  dispose(): void;
}
