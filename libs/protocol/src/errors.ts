/** Where an error happened: which run, round and device, when known. */
export interface ErrorContext {
  run?: string;
  round?: number;
  device?: string;
}

/**
 * Base of the project's errors. `code` is stable (callers branch on it, never on the message);
 * the message says what was wrong and what to do next.
 */
export class DistganError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly context: ErrorContext = {},
    /** `cause`: the error this one explains (kept, as `Error.cause`, for logs and callers). */
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An error as plain data, for a boundary that structured-clones (worker threads): the class's
 * name, message, stack, its own fields (`code`, `context`, `reason`, ...) and its cause.
 */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
  cause?: WireError | string;
}

/** Classes that `errorFromWire` rebuilds by name, so that `instanceof` holds across threads. */
const wireClasses = new Map<string, { prototype: Error }>();

/** Lets `errorFromWire` rebuild instances of `cls` (an Error subclass), by its name. */
export function registerWireError(cls: { prototype: Error; name: string }): void {
  wireClasses.set(cls.name, cls);
}

export function errorToWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) {
    if (k === 'cause' || typeof v === 'function') continue;
    try {
      structuredClone(v);
      fields[k] = v;
    } catch {
      fields[k] = String(v); // not cloneable: keep what it says
    }
  }
  const wire: WireError = { name: err.name, message: err.message, fields };
  if (err.stack !== undefined) wire.stack = err.stack;
  if (err.cause !== undefined)
    wire.cause = err.cause instanceof Error ? errorToWire(err.cause) : String(err.cause);
  return wire;
}

/**
 * The error that `errorToWire` described: an instance of its registered class when there is one
 * (with the same fields, so `code`, `reason` and `context` survive), otherwise an Error of the
 * same name.
 */
export function errorFromWire(w: WireError): Error {
  const cls = wireClasses.get(w.name);
  const err = (cls ? Object.create(cls.prototype) : new Error()) as Error;
  Object.defineProperty(err, 'message', { value: w.message, writable: true, configurable: true });
  Object.assign(err, w.fields);
  if (!cls)
    Object.defineProperty(err, 'name', { value: w.name, writable: true, configurable: true });
  if (w.stack !== undefined)
    Object.defineProperty(err, 'stack', { value: w.stack, writable: true, configurable: true });
  if (w.cause !== undefined)
    Object.defineProperty(err, 'cause', {
      value: typeof w.cause === 'string' ? w.cause : errorFromWire(w.cause),
      writable: true,
      configurable: true,
    });
  return err;
}

/** A message that is not valid JSON, not of a known type and version, or fails its schema. */
export class ProtocolError extends DistganError {
  constructor(
    readonly reason: string,
    context: ErrorContext = {},
    readonly path?: string,
  ) {
    super('PROTOCOL_INVALID_MESSAGE', `invalid message: ${reason}`, context);
  }
}

export type BlobIntegrityReason =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'bad-header'
  | 'checksum-mismatch'
  | 'shape-mismatch'
  | 'non-finite'
  | 'missing';

/** A weight blob that must not be used: it is never decoded into a model or averaged. */
export class BlobIntegrityError extends DistganError {
  constructor(
    readonly reason: BlobIntegrityReason,
    detail: string,
    context: ErrorContext = {},
  ) {
    super('BLOB_INTEGRITY', `weight blob refused (${reason}): ${detail}`, context);
  }
}

for (const cls of [DistganError, ProtocolError, BlobIntegrityError]) registerWireError(cls);
