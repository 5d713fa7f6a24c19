import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { ProtocolError, type ErrorContext } from './errors.js';
import { BLOB_NAME_PATTERN, ID_PATTERN } from './names.js';

/** Version of the JSON messages; a receiver refuses any other. */
export const PROTOCOL_VERSION = 5;

/** Messages larger than this are refused before parsing (weights never travel in messages). */
export const MAX_MESSAGE_BYTES = 1 << 20;

const Id = Type.String({ pattern: ID_PATTERN });
const Round = Type.Integer({ minimum: 0 });
const Count = Type.Integer({ minimum: 1 });
const Millis = Type.Number({ minimum: 0 });
const Finite = Type.Number();
/** A blob's 32-byte content digest in hex; the blob's header names the algorithm (codec.ts). */
const Digest = Type.String({ pattern: '^[0-9a-f]{64}$' });
const BlobKey = Type.String({ pattern: '^distgan:[A-Za-z0-9_:-]+$', maxLength: 512 });
const BlobRef = Type.Object({ key: BlobKey, digest: Digest }, { additionalProperties: false });
/** The name of a method's input or output (`generator`, `discriminator`, `fake`, ...). */
const PartName = Type.String({ pattern: BLOB_NAME_PATTERN });
const BlobRefs = Type.Record(PartName, BlobRef, { additionalProperties: false });
/** The methods that run on devices; `centralized` trains on the server alone. */
export const DEVICE_METHODS = ['distgan', 'fl-gan', 'md-gan'] as const;
export type DeviceMethodName = (typeof DEVICE_METHODS)[number];
const Header = {
  version: Type.Literal(PROTOCOL_VERSION),
  runId: Id,
};

export const RoundTaskSchema = Type.Object(
  {
    type: Type.Literal('RoundTask'),
    ...Header,
    round: Round,
    /** The distribution method: which inputs come, what the device computes, what it returns. */
    method: Type.Union([Type.Literal('distgan'), Type.Literal('fl-gan'), Type.Literal('md-gan')]),
    schedule: Type.Union([Type.Literal('serial'), Type.Literal('parallel')]),
    /** The round's inputs every participant reads, by the method's names for them. */
    inputs: BlobRefs,
    /** Inputs of one participant only (MD-GAN's fake batches), by device id; they add to `inputs`. */
    deviceInputs: Type.Optional(Type.Record(Id, BlobRefs, { additionalProperties: false })),
    /** The names of the blobs each participant sends back. */
    outputs: Type.Array(PartName, { minItems: 1, uniqueItems: true, maxItems: 8 }),
    /** The round queue that updates go to. */
    replyTo: Type.String({ minLength: 1, maxLength: 255 }),
    /** Epoch ms after which the server no longer counts an update. */
    deadlineAt: Millis,
    issuedAt: Millis,
    training: Type.Object(
      {
        localSteps: Count,
        batchSize: Count,
        learningRate: Type.Number({ exclusiveMinimum: 0 }),
        beta1: Type.Number({ minimum: 0, exclusiveMaximum: 1 }),
        beta2: Type.Number({ minimum: 0, exclusiveMaximum: 1 }),
        /** FL-GAN: generator steps after each local discriminator step, and G's learning rate. */
        generatorSteps: Type.Optional(Count),
        generatorLearningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      },
      { additionalProperties: false },
    ),
    /** Run seed: a device derives its minibatch and latent seeds from it, the round and its id. */
    seed: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    participants: Type.Array(Id, { minItems: 1, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type RoundTask = Static<typeof RoundTaskSchema>;

export const DeviceUpdateSchema = Type.Object(
  {
    type: Type.Literal('DeviceUpdate'),
    ...Header,
    round: Round,
    deviceId: Id,
    /** n_k: the weight of this update in the average. */
    samples: Count,
    /** The blobs the task asked for (its `outputs`), each in the store under its key. */
    outputs: Type.Record(
      PartName,
      Type.Object(
        { key: BlobKey, digest: Digest, bytes: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
      { additionalProperties: false },
    ),
    /** Local losses, means over the round's steps; `g` where the device trains a generator. */
    losses: Type.Object(
      { d: Finite, dReal: Finite, dFake: Finite, g: Type.Optional(Finite) },
      { additionalProperties: false },
    ),
    computeMs: Millis,
    /**
     * Where the device's time outside training went: fetching (θ_t, φ_t) from the store,
     * verifying and decoding them, encoding its φ_k, storing it. Optional (older devices).
     */
    timings: Type.Optional(
      Type.Object(
        { fetchMs: Millis, verifyMs: Millis, encodeMs: Millis, storeMs: Millis },
        { additionalProperties: false },
      ),
    ),
    steps: Count,
    /** True when the device started this round with a fresh Adam state. */
    optimizerReset: Type.Boolean(),
    sentAt: Millis,
  },
  { additionalProperties: false },
);
export type DeviceUpdate = Static<typeof DeviceUpdateSchema>;

/**
 * A device's answer to a task it will not train: the round does not wait for it until the
 * deadline. Sent to the task's `replyTo` like an update (docs/design.md §3).
 */
export const TaskDeclinedSchema = Type.Object(
  {
    type: Type.Literal('TaskDeclined'),
    ...Header,
    round: Round,
    deviceId: Id,
    /** Why, for the server's log: a refused blob, another model, local training diverged. */
    reason: Type.String({ minLength: 1, maxLength: 1024 }),
    sentAt: Millis,
  },
  { additionalProperties: false },
);
export type TaskDeclined = Static<typeof TaskDeclinedSchema>;

export interface MessageTypes {
  RoundTask: RoundTask;
  DeviceUpdate: DeviceUpdate;
  TaskDeclined: TaskDeclined;
}
export type MessageType = keyof MessageTypes;
export type Message = MessageTypes[MessageType];

const SCHEMAS: Record<MessageType, TSchema> = {
  RoundTask: RoundTaskSchema,
  DeviceUpdate: DeviceUpdateSchema,
  TaskDeclined: TaskDeclinedSchema,
};
const VALIDATORS = Object.fromEntries(
  Object.entries(SCHEMAS).map(([type, schema]) => [type, Compile(schema)]),
) as Record<MessageType, ReturnType<typeof Compile>>;

export const MESSAGE_TYPES = Object.keys(SCHEMAS) as MessageType[];

function isMessageType(t: unknown): t is MessageType {
  return typeof t === 'string' && Object.hasOwn(SCHEMAS, t);
}

export interface ParseOptions<T extends MessageType> {
  /** The receiver's run: a message of another run is refused. */
  runId: string;
  /** The types this receiver accepts. */
  types: readonly T[];
  context?: ErrorContext;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/**
 * Parses and validates one message body. Anything that is not valid UTF-8 JSON, not of an
 * accepted type, of another protocol version or run, or fails its schema throws ProtocolError
 * saying what and where; the caller rejects the message and goes on.
 */
export function parseMessage<T extends MessageType>(
  raw: Uint8Array | string,
  opts: ParseOptions<T>,
): MessageTypes[T] {
  const ctx: ErrorContext = { run: opts.runId, ...opts.context };
  const size = typeof raw === 'string' ? raw.length : raw.byteLength;
  if (size > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(
      `message of ${size} bytes exceeds the limit of ${MAX_MESSAGE_BYTES}`,
      ctx,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : decoder.decode(raw));
  } catch (err) {
    throw new ProtocolError(`not UTF-8 JSON (${(err as Error).message})`, ctx);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('not a JSON object', ctx);
  }
  const { type, version, runId } = value as Record<string, unknown>;
  if (!isMessageType(type)) {
    throw new ProtocolError(`unknown message type ${JSON.stringify(type)}`, ctx, '/type');
  }
  if (!(opts.types as readonly string[]).includes(type)) {
    throw new ProtocolError(
      `a ${type} is not accepted here (expected ${opts.types.join(' or ')})`,
      ctx,
      '/type',
    );
  }
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `${type} has protocol version ${JSON.stringify(version)}, this build speaks version ${PROTOCOL_VERSION}`,
      ctx,
      '/version',
    );
  }
  if (runId !== opts.runId) {
    throw new ProtocolError(
      `${type} belongs to run ${JSON.stringify(runId)}, not ${JSON.stringify(opts.runId)}`,
      ctx,
      '/runId',
    );
  }
  assertSchema(VALIDATORS[type], value, type, ctx);
  return value as MessageTypes[T];
}

/**
 * Throws ProtocolError `<label> <path>: <why>` for the first place `value` fails the compiled
 * schema: for messages and the membership records alike.
 */
export function assertSchema(
  validator: ReturnType<typeof Compile>,
  value: unknown,
  label: string,
  ctx: ErrorContext,
): void {
  if (validator.Check(value)) return;
  const first = validator.Errors(value)[0];
  const path = first?.instancePath || '/';
  // TypeBox reports an unexpected field as the boolean schema `false` failing.
  const why =
    first?.keyword === 'boolean' ? 'unexpected field' : (first?.message ?? 'fails its schema');
  throw new ProtocolError(`${label} ${path}: ${why}`, ctx, path);
}

/** Serialises a message after checking it against its own schema (a bug here must not reach the wire). */
export function encodeMessage(message: Message): Uint8Array {
  const type = message.type;
  const validator = VALIDATORS[type];
  const value: unknown = message;
  if (!validator.Check(value)) {
    const first = validator.Errors(value)[0];
    throw new ProtocolError(
      `refusing to send an invalid ${type}: ${first?.instancePath || '/'} ${first?.message ?? ''}`,
    );
  }
  return encoder.encode(JSON.stringify(message));
}
