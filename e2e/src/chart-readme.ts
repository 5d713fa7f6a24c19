/**
 * The values table of charts/distgan/README.md, generated from values.schema.json (each value's
 * type and description) and values.yaml (its default). `npm run docs:chart` writes it between
 * the README's markers; a test fails when the committed table and the schema disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const chart = fileURLToPath(new URL('../../charts/distgan/', import.meta.url));
export const CHART_README = `${chart}README.md`;
export const TABLE_START = '<!-- values:start (npm run docs:chart; do not edit by hand) -->';
export const TABLE_END = '<!-- values:end -->';

export interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  anyOf?: SchemaNode[];
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  description?: string;
  definitions?: Record<string, SchemaNode>;
}

export function readSchema(): SchemaNode {
  return JSON.parse(readFileSync(`${chart}values.schema.json`, 'utf8')) as SchemaNode;
}

/** Every value the schema names, by its dotted path, with its schema ($ref resolved). */
export function schemaLeaves(schema: SchemaNode = readSchema()): [string, SchemaNode, string][] {
  const defs = schema.definitions ?? {};
  const resolve = (n: SchemaNode): [SchemaNode, string] => {
    if (!n.$ref) return [n, ''];
    const name = n.$ref.replace('#/definitions/', '');
    const target = defs[name];
    if (!target) throw new Error(`${n.$ref} is not defined`);
    return [{ ...target, description: n.description ?? target.description }, name];
  };
  const out: [string, SchemaNode, string][] = [];
  const walk = (prefix: string, node: SchemaNode): void => {
    for (const [key, raw] of Object.entries(node.properties ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      const [n, refName] = resolve(raw);
      // Objects the chart passes through whole (resources, selectors) are one row.
      if (n.properties && !refName) walk(path, n);
      else out.push([path, n, refName]);
    }
  };
  walk('', schema);
  return out;
}

const typeOf = (n: SchemaNode, refName: string): string => {
  if (refName) return refName;
  if (n.enum) return n.enum.map((v) => (v === '' ? '""' : String(v))).join(', ');
  if (n.anyOf) return n.anyOf.map((a) => a.type).join(' or ');
  if (n.type === 'array') return 'list';
  return Array.isArray(n.type) ? n.type.join(' or ') : (n.type ?? 'any');
};

const valueAt = (values: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>(
      (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
      values,
    );

export function valuesTable(): string {
  const defaults = parse(readFileSync(`${chart}values.yaml`, 'utf8')) as unknown;
  const rows = schemaLeaves().map(([path, n, refName]) => {
    const v = valueAt(defaults, path);
    const shown = v === undefined ? '' : `\`${JSON.stringify(v)}\``;
    const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/</g, '&lt;');
    return `| \`${path}\` | ${cell(typeOf(n, refName))} | ${cell(shown)} | ${cell(n.description ?? '')} |`;
  });
  return ['| value | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** The README with its values table replaced by the generated one. */
export function readmeWithTable(readme: string): string {
  const a = readme.indexOf(TABLE_START);
  const b = readme.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error(`${CHART_README} has no ${TABLE_START} ... ${TABLE_END}`);
  return `${readme.slice(0, a + TABLE_START.length)}\n\n${valuesTable()}\n\n${readme.slice(b)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(CHART_README, readmeWithTable(readFileSync(CHART_README, 'utf8')));
  console.log(`wrote the values table of ${CHART_README}`);
}
