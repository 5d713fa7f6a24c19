import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { DistganError } from './errors.js';
import { ID_PATTERN } from './names.js';

/*
 * The one configuration schema's machinery (docs/configuration.md): every setting is a TypeBox
 * schema with a default and a line of help, named as its environment variable (LOCAL_STEPS).
 * From the same entries come the services' environment parsing, the embedded run's CLI flags
 * (--local-steps), the domain objects' keys (localSteps), the defaults and the documentation's
 * tables. Libraries never read process.env; a service passes it in.
 */

export class ConfigError extends DistganError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export interface Setting<S extends TSchema = TSchema> {
  /** The type and its constraints. */
  schema: S;
  /** Absent: the setting is required. '' or 0 may mean "not set" where the help says so. */
  default?: Static<S>;
  help: string;
}

/** A setting: its TypeBox schema, its default (none: required) and its help. */
export function setting<S extends TSchema>(
  schema: S,
  o: { default?: Static<S>; help: string },
): Setting<S> {
  return { schema, ...o };
}

/** Schemas of the kinds of settings there are. */
export const types = {
  integer: (minimum: number, maximum = Number.MAX_SAFE_INTEGER) =>
    Type.Integer({ minimum, maximum }),
  /** A finite number above `exclusiveMinimum` (and below `exclusiveMaximum`). */
  number: (o: { minimum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number } = {}) =>
    Type.Number(o),
  oneOf: <const T extends readonly string[]>(...values: T) =>
    Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)))),
  id: () => Type.String({ pattern: ID_PATTERN }),
  /** A URL of one of the schemes (amqp, amqps, ...). */
  url: (...schemes: string[]) =>
    Type.String({
      pattern: `^(${schemes.join('|')})://`,
      description: `URL of scheme ${schemes.join(' or ')}`,
    }),
  text: () => Type.String(),
  boolean: () => Type.Boolean(),
  /** `auto`, or a whole number in a range. */
  autoOrInteger: (minimum: number, maximum: number) =>
    Type.Unsafe<'auto' | number>(
      Type.Union([Type.Literal('auto'), Type.Integer({ minimum, maximum })]),
    ),
};

type Schema = TSchema & {
  type?: string;
  anyOf?: { const?: unknown; type?: string; minimum?: number; maximum?: number }[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  description?: string;
};

/** The values a setting may take, when it is a choice among literals. */
export function choicesOf(s: Setting): string[] | undefined {
  const anyOf = (s.schema as Schema).anyOf;
  if (!anyOf || !anyOf.every((x) => typeof x.const === 'string')) return undefined;
  return anyOf.map((x) => x.const as string);
}

/** What a setting expects, in words ("a whole number from 1 to 10,000"). */
export function expected(s: Setting): string {
  const sc = s.schema as Schema;
  const choices = choicesOf(s);
  if (choices) {
    const named = choices.filter(Boolean);
    return `one of ${named.join(', ')}${named.length < choices.length ? ' (or empty)' : ''}`;
  }
  const integer = sc.anyOf?.find((x) => x.type === 'integer');
  if (integer) {
    const words = sc.anyOf!.filter((x) => typeof x.const === 'string').map((x) => x.const);
    return `${words.join(', ')} or a whole number from ${integer.minimum} to ${integer.maximum}`;
  }
  const range = (): string => {
    const max = sc.maximum !== Number.MAX_SAFE_INTEGER ? sc.maximum : undefined;
    if (sc.minimum !== undefined && sc.exclusiveMaximum !== undefined)
      return `in [${sc.minimum}, ${sc.exclusiveMaximum})`;
    if (sc.minimum !== undefined && max !== undefined) return `from ${sc.minimum} to ${max}`;
    if (sc.minimum !== undefined) return `of ${sc.minimum} or more`;
    if (sc.exclusiveMinimum !== undefined) return `above ${sc.exclusiveMinimum}`;
    return '';
  };
  if (sc.type === 'integer') return `a whole number ${range()}`.trim();
  if (sc.type === 'number') return `a number ${range()}`.trim();
  if (sc.type === 'boolean') return 'true or false';
  if (sc.description) return `a ${sc.description}`;
  if (sc.pattern === ID_PATTERN) return "1-63 letters, digits, '-' or '_'";
  return 'text';
}

/**
 * A string (an environment variable, a command-line argument) as the setting's value. The
 * conversion is written here rather than left to TypeBox's Value.Convert, which turns "2.5"
 * into the integer 2 and "" into 0 without a word (checked with typebox 1.4); the constraints
 * are TypeBox's.
 */
export function parseValue<S extends TSchema>(s: Setting<S>, raw: string): Static<S> {
  const sc = s.schema as Schema;
  let value: unknown = raw;
  if (sc.type === 'integer') {
    if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(Number(raw)))
      throw new Error(`expected ${expected(s)}, got "${raw}"`);
    value = Number(raw);
  } else if (sc.type === 'number') {
    value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value))
      throw new Error(`expected ${expected(s)}, got "${raw}"`);
  } else if (sc.anyOf?.some((x) => x.type === 'integer') && /^\s*-?\d+\s*$/.test(raw)) {
    value = Number(raw);
  } else if (sc.type === 'boolean') {
    if (/^(1|true|yes)$/i.test(raw)) value = true;
    else if (/^(0|false|no)$/i.test(raw)) value = false;
    else throw new Error(`expected true or false, got "${raw}"`);
  }
  if (!Value.Check(s.schema, value)) {
    const shown = typeof value === 'string' ? `"${raw}"` : String(value);
    throw new Error(`expected ${expected(s)}, got ${shown}`);
  }
  return value as Static<S>;
}

export type Settings = Record<string, Setting>;
export type Values<S extends Settings> = {
  [K in keyof S]: S[K] extends Setting<infer T> ? Static<T> : never;
};

/** Reads every setting of `spec` from `env`; throws one ConfigError listing all problems. */
export function parseSettings<S extends Settings>(
  spec: S,
  env: Record<string, string | undefined>,
): Values<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, s] of Object.entries(spec)) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if ('default' in s) out[name] = s.default;
      else problems.push(`${name} is required: ${s.help}`);
      continue;
    }
    try {
      out[name] = parseValue(s, raw);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message} (${s.help})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Values<S>;
}

type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Lowercase<H>}${Capitalize<Camel<T>>}`
  : Lowercase<S>;

/** Settings' values keyed as in the domain (LOCAL_STEPS → localSteps). */
export type Domain<V> = { [K in keyof V as K extends string ? Camel<K> : never]: V[K] };

/** The values of parseSettings as a domain object: the keys the code inside uses. */
export function toDomain<V extends Record<string, unknown>>(values: V): Domain<V> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [keyOf(name), value]),
  ) as Domain<V>;
}

/** The command-line flag of a setting: LOCAL_STEPS → --local-steps. */
export function flagOf(name: string): string {
  return `--${name.toLowerCase().replace(/_/g, '-')}`;
}

/** The key of a setting in a domain object: LOCAL_STEPS → localSteps, LR_D → lrD. */
export function keyOf(name: string): string {
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** How a setting's default reads in a table. */
export function defaultText(s: Setting): string {
  if (!('default' in s)) return 'required';
  return s.default === '' ? '(none)' : `\`${String(s.default)}\``;
}

/** Settings as Markdown table rows: name (an environment variable or a flag), default, meaning. */
export function describeSettings(spec: Settings, style: 'env' | 'flag' = 'env'): string {
  return Object.entries(spec)
    .map(([name, s]) => {
      const shown = style === 'env' ? name : flagOf(name);
      const choices = choicesOf(s)?.filter(Boolean);
      const what = choices ? `${s.help} (${choices.join(', ')})` : s.help;
      return `| \`${shown}\` | ${defaultText(s)} | ${what.replace(/\|/g, '\\|')} |`;
    })
    .join('\n');
}
