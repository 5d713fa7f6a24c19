import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { ProtocolError, type ErrorContext } from './errors.js';
import { assertSchema } from './messages.js';
import { ID_PATTERN } from './names.js';

/*
 * The JSON records of membership in Redis (docs/design.md §3): what a device writes when it joins
 * and with every heartbeat, and what the server publishes about its run. They are not messages
 * (nothing carries them through the broker), but every implementation reads them, so they have
 * schemas like the messages and are checked where they are read.
 */

const Id = Type.String({ pattern: ID_PATTERN });
const Name = Type.String({ minLength: 1, maxLength: 64 });

/**
 * What defines a device's data and model. Devices that disagree on any of it would average
 * discriminators of different shapes, or of overlapping shards with wrong sample weights, so a
 * device joins only when its identity matches the run's.
 */
export const DeviceIdentitySchema = Type.Object(
  {
    /** The wire protocol version the device speaks. */
    protocol: Type.Integer({ minimum: 1 }),
    method: Name,
    dataset: Name,
    model: Name,
    /** The models' size (MODEL_WIDTH). */
    modelWidth: Type.Integer({ minimum: 1 }),
    latentDim: Type.Integer({ minimum: 1 }),
    /**
     * Class-conditional models (CONDITIONAL). Absent: false, as from a device that predates the
     * setting and trains unconditional models.
     */
    conditional: Type.Optional(Type.Boolean()),
    seed: Type.Integer({ minimum: 0 }),
    /** Samples of the dataset used (0: all). */
    limit: Type.Integer({ minimum: 0 }),
    /** The ring's spread (the ring dataset is generated from it). */
    ringStd: Type.Number({ exclusiveMinimum: 0 }),
    partition: Name,
    alpha: Type.Number({ exclusiveMinimum: 0 }),
    shardsPerDevice: Type.Integer({ minimum: 1 }),
    /** How many shards the data is split into; 0 when the device trains on data of its own. */
    numDevices: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type DeviceIdentity = Static<typeof DeviceIdentitySchema>;

/** A device's entry in the run's devices hash, written when it joins and with every heartbeat. */
export const DeviceRegistrationSchema = Type.Object(
  {
    deviceId: Id,
    /**
     * Random for each process: a second live process with the same device id is refused, while
     * a restarted device takes its id over once the old one's liveness has expired.
     */
    instance: Type.String({ pattern: '^[A-Za-z0-9-]{8,64}$' }),
    /** n_k: the weight of its updates in the average. */
    samples: Type.Integer({ minimum: 1 }),
    /** Which shard of the partition it holds; -1 for data of its own. */
    shard: Type.Integer({ minimum: -1 }),
    backend: Type.String({ maxLength: 64 }),
    /**
     * The blob digests the device can verify. The server writes each round's blobs in one that
     * every participant lists, and refuses a device that lists none (docs/protocol.md).
     */
    digests: Type.Array(Type.Union([Type.Literal('blake3'), Type.Literal('sha256')]), {
      uniqueItems: true,
      maxItems: 2,
    }),
    registeredAt: Type.Number({ minimum: 0 }),
    identity: DeviceIdentitySchema,
  },
  { additionalProperties: false },
);
export type DeviceRegistration = Static<typeof DeviceRegistrationSchema>;

/** What the server says about its run, for devices and operators. */
export const RunRecordSchema = Type.Object(
  {
    status: Type.Union([
      Type.Literal('starting'),
      Type.Literal('waiting-for-devices'),
      Type.Literal('training'),
      Type.Literal('finished'),
      Type.Literal('stopped'),
      Type.Literal('failed'),
    ]),
    /** The last completed round (-1 before the first). */
    round: Type.Integer({ minimum: -1 }),
    /** Why the run failed. */
    reason: Type.Optional(Type.String({ maxLength: 4096 })),
    /** The identity every device must have; numDevices 0 until the server knows it. */
    identity: DeviceIdentitySchema,
    updatedAt: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RunRecord = Static<typeof RunRecordSchema>;

/** The server's refusal of one instance of a device, in the run's refusals hash. */
export const RefusalSchema = Type.Object(
  {
    /** The refused instance: the same device id restarted (a new instance) is checked afresh. */
    instance: Type.String({ pattern: '^[A-Za-z0-9-]{8,64}$' }),
    /** Why, naming the setting that differs and both values, for the device's log. */
    reason: Type.String({ minLength: 1, maxLength: 4096 }),
  },
  { additionalProperties: false },
);
export type Refusal = Static<typeof RefusalSchema>;

export interface RecordTypes {
  DeviceRegistration: DeviceRegistration;
  RunRecord: RunRecord;
  Refusal: Refusal;
}
export const RECORD_SCHEMAS: Record<keyof RecordTypes, TSchema> = {
  DeviceRegistration: DeviceRegistrationSchema,
  RunRecord: RunRecordSchema,
  Refusal: RefusalSchema,
};
const VALIDATORS = {
  DeviceRegistration: Compile(DeviceRegistrationSchema),
  RunRecord: Compile(RunRecordSchema),
  Refusal: Compile(RefusalSchema),
};

/** Parses one record's JSON; throws ProtocolError saying what is wrong and where. */
export function parseRecord<K extends keyof RecordTypes>(
  kind: K,
  json: string,
  context: ErrorContext = {},
): RecordTypes[K] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ProtocolError(`${kind} is not JSON (${(err as Error).message})`, context);
  }
  assertSchema(VALIDATORS[kind], value, kind, context);
  return value as RecordTypes[K];
}
