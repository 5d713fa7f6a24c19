import { DistganError } from './errors.js';
import { isValidId } from './names.js';

/*
 * Typed settings from string variables (the services' environment), validated all at once:
 * every missing or malformed variable is named with what was expected. Libraries never read
 * process.env; a service passes it in.
 */

export class ConfigError extends DistganError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export type Parser<T> = (raw: string) => T;

export interface Setting<T> {
  parse: Parser<T>;
  /** Absent: the variable is required. */
  default?: T;
  /** What the variable is, for the error of a required one. */
  help: string;
}

export const parsers = {
  integer:
    (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
    (raw) => {
      const n = Number(raw);
      if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(n))
        throw new Error(`expected a whole number, got "${raw}"`);
      if (n < min || n > max)
        throw new Error(`expected a whole number from ${min} to ${max}, got ${n}`);
      return n;
    },
  number:
    (check: (n: number) => boolean, range: string): Parser<number> =>
    (raw) => {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new Error(`expected a number, got "${raw}"`);
      if (!check(n)) throw new Error(`expected a number ${range}, got ${n}`);
      return n;
    },
  oneOf:
    <T extends string>(...values: T[]): Parser<T> =>
    (raw) => {
      if (!(values as string[]).includes(raw))
        throw new Error(`expected one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    },
  id: (raw: string): string => {
    if (!isValidId(raw)) throw new Error(`expected 1-63 letters, digits, '-' or '_', got "${raw}"`);
    return raw;
  },
  url:
    (...protocols: string[]): Parser<string> =>
    (raw) => {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        throw new Error(`expected a URL, got "${raw}"`);
      }
      if (!protocols.includes(u.protocol.replace(/:$/, ''))) {
        throw new Error(`expected a ${protocols.join(' or ')}:// URL, got "${u.protocol}//…"`);
      }
      return raw;
    },
  text: (raw: string): string => raw,
  boolean: (raw: string): boolean => {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    throw new Error(`expected true or false, got "${raw}"`);
  },
};

type Values<S extends Record<string, Setting<unknown>>> = {
  [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

/** Reads every setting of `spec` from `env`; throws one ConfigError listing all problems. */
export function parseSettings<S extends Record<string, Setting<unknown>>>(
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
      out[name] = s.parse(raw);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message} (${s.help})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Values<S>;
}

/** Settings table as Markdown rows (name, default, meaning), for docs/distributed.md. */
export function describeSettings(spec: Record<string, Setting<unknown>>): string {
  return Object.entries(spec)
    .map(
      ([name, s]) =>
        `| \`${name}\` | ${'default' in s ? `\`${String(s.default)}\`` : 'required'} | ${s.help} |`,
    )
    .join('\n');
}
