/**
 * docs/protocol/schemas/<Name>.schema.json: the JSON Schema of every message and Redis record
 * of the wire protocol, generated from their TypeBox definitions (which are JSON Schema already)
 * with `$schema`, `$id`, a title and a description added. `npm run docs:schemas` writes them; a
 * test fails when the committed files and the definitions disagree.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DeviceRegistrationSchema,
  DeviceUpdateSchema,
  PROTOCOL_VERSION,
  RefusalSchema,
  RoundTaskSchema,
  RunRecordSchema,
  TaskDeclinedSchema,
} from '@distgan/protocol';

export const SCHEMAS_DIR = fileURLToPath(new URL('../../docs/protocol/schemas/', import.meta.url));

/** Every published schema: its definition and what it is, for the file's description. */
export const PUBLISHED: Record<string, { schema: object; description: string }> = {
  RoundTask: {
    schema: RoundTaskSchema,
    description:
      "A round's task, from the server to each participant's queue (docs/protocol.md, Messages).",
  },
  DeviceUpdate: {
    schema: DeviceUpdateSchema,
    description:
      "A device's answer to a task it trained: its output blobs' keys, digests and sizes, its losses; published to the task's replyTo.",
  },
  TaskDeclined: {
    schema: TaskDeclinedSchema,
    description:
      "A device's answer to a task it will not train, so that the round does not wait for it; published to the task's replyTo.",
  },
  DeviceRegistration: {
    schema: DeviceRegistrationSchema,
    description:
      "A device's entry in the hash distgan:<run>:devices (field: the device id), written when it joins and with every heartbeat.",
  },
  RunRecord: {
    schema: RunRecordSchema,
    description:
      "The run's record at distgan:<run>:run, written by the server when the run's status changes; devices read it before joining and with every heartbeat.",
  },
  Refusal: {
    schema: RefusalSchema,
    description:
      "The server's refusal of one instance of a device, in the hash distgan:<run>:refusals (field: the device id).",
  },
};

/** The file's text for one schema (stable: same definitions, same bytes). */
export function schemaFile(name: string): string {
  const { schema, description } = PUBLISHED[name]!;
  const doc = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `urn:distgan:protocol:${PROTOCOL_VERSION}:${name}`,
    title: `${name} (distgan protocol ${PROTOCOL_VERSION})`,
    description,
    // A round trip through JSON keeps what a schema says and drops TypeBox's own markers.
    ...(JSON.parse(JSON.stringify(schema)) as object),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function schemaFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.keys(PUBLISHED).map((name) => [`${name}.schema.json`, schemaFile(name)]),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(SCHEMAS_DIR, { recursive: true });
  const files = schemaFiles();
  // A schema that is no longer published leaves the folder too.
  for (const f of readdirSync(SCHEMAS_DIR))
    if (f.endsWith('.schema.json') && !(f in files)) rmSync(join(SCHEMAS_DIR, f));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(SCHEMAS_DIR, f), text);
  console.log(`wrote ${Object.keys(files).length} schemas to docs/protocol/schemas/`);
}
