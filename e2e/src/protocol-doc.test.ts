import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  BLOB_FORMAT_VERSION,
  BLOB_NAME_PATTERN,
  ID_PATTERN,
  MAX_MESSAGE_BYTES,
  MESSAGE_TYPES,
  parseMessage,
  parseRecord,
  PROTOCOL_VERSION,
  RECORD_SCHEMAS,
  type MessageType,
  type RecordTypes,
} from '@distgan/protocol';
import { exampleBlobHex, randomTestVectors, tensorTable } from '@distgan/server/protocol-examples';
import { initBackend, type ModelSpec } from '@distgan/gan';
import { SCHEMAS_DIR } from './protocol-schemas.js';

/*
 * docs/protocol.md against the code: every example in it parses with the real parsers and
 * validates against the published JSON Schema, the example blob is the bytes the codec writes,
 * the tensor tables and test vectors are what the code gives, and the constants it states are
 * the code's. The examples are printed by `npm run docs:protocol-examples`.
 */
const DOC = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));
const doc = readFileSync(DOC, 'utf8');

/** The fenced block after each `<!-- example: Name -->` marker, by name. */
function examples(): Map<string, string> {
  const found = new Map<string, string>();
  const re = /<!-- example: ([A-Za-z-]+) -->\n```[a-z]*\n([\s\S]*?)\n```/g;
  for (const m of doc.matchAll(re)) {
    assert.ok(!found.has(m[1]!), `example ${m[1]} appears twice`);
    found.set(m[1]!, m[2]!);
  }
  return found;
}

const hexBytes = (dump: string): Uint8Array =>
  Uint8Array.from(
    dump
      .split('\n')
      .flatMap((l) =>
        l
          .slice(10, 10 + 47)
          .trim()
          .split(/\s+/),
      )
      .map((h) => parseInt(h, 16)),
  );

describe('docs/protocol.md', () => {
  before(() => initBackend({ forced: 'cpu' }));

  it(`specifies protocol version ${PROTOCOL_VERSION}, the code's`, () => {
    assert.ok(doc.startsWith(`# The distgan wire protocol, version ${PROTOCOL_VERSION}\n`));
    assert.ok(doc.includes(`\`"version": ${PROTOCOL_VERSION}\``));
  });

  it('has an example of every message and record, each parsed by the real parser and valid against its published schema', () => {
    const found = examples();
    const ajv = new Ajv2020({ strict: true });
    const names = [...MESSAGE_TYPES, ...Object.keys(RECORD_SCHEMAS)];
    for (const name of names) {
      const raw = found.get(name);
      assert.ok(raw, `no example of ${name}`);
      const value = JSON.parse(raw) as { runId?: string };
      if ((MESSAGE_TYPES as string[]).includes(name)) {
        parseMessage(raw, { runId: value.runId ?? '', types: [name as MessageType] });
      } else {
        parseRecord(name as keyof RecordTypes, raw);
      }
      const schema = JSON.parse(
        readFileSync(join(SCHEMAS_DIR, `${name}.schema.json`), 'utf8'),
      ) as object;
      const validate = ajv.compile(schema);
      assert.ok(validate(value), `${name}: ${JSON.stringify(validate.errors)}`);
    }
  });

  it('shows the example blob byte for byte as the codec writes it', () => {
    assert.equal(examples().get('blob'), exampleBlobHex());
  });

  it("shows a real blob's prefix and header: magic, format, digest code, header length, the ring discriminator's tensors, data at a multiple of 8", () => {
    const bytes = hexBytes(examples().get('blob-header')!);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'DGWB');
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint16(4, true), BLOB_FORMAT_VERSION);
    assert.equal(bytes[6], 0, 'float32');
    assert.equal(bytes[7], 1, 'BLAKE3, as the text says');
    const h = view.getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(44, 44 + h))) as {
      tensors: { name: string; shape: number[] }[];
    };
    const table = header.tensors.map((t) => `| \`${t.name}\` | [${t.shape.join(', ')}] |`);
    const ring: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 2 };
    assert.equal(
      ['| tensor | shape |', '|---|---|', ...table].join('\n'),
      tensorTable(ring, 'discriminator'),
    );
    const dataOffset = (44 + h + 7) & ~7;
    assert.ok(
      doc.includes(
        `H = 0x${h.toString(16)} = ${h}, so D = ${dataOffset} = 0x${dataOffset.toString(16)}`,
      ),
    );
  });

  it("lists the models' tensors as the code builds them", () => {
    const spec = (sampleShape: number[], arch: 'mlp' | 'dcgan', latentDim: number): ModelSpec => ({
      arch,
      sampleShape,
      latentDim,
    });
    for (const [s, role] of [
      [spec([2], 'mlp', 2), 'generator'],
      [spec([2], 'mlp', 2), 'discriminator'],
      [spec([28, 28, 1], 'mlp', 64), 'generator'],
      [spec([28, 28, 1], 'mlp', 64), 'discriminator'],
      [spec([28, 28, 1], 'dcgan', 64), 'generator'],
      [spec([28, 28, 1], 'dcgan', 64), 'discriminator'],
      [{ ...spec([28, 28, 1], 'dcgan', 64), classes: 10 }, 'discriminator'],
    ] as const)
      assert.ok(doc.includes(tensorTable(s, role)), `${s.arch} ${s.sampleShape.join('×')} ${role}`);
  });

  it("states the code's limits, patterns and random test vectors", () => {
    assert.ok(doc.includes(MAX_MESSAGE_BYTES.toLocaleString('en-US')));
    assert.ok(doc.includes(`\`${ID_PATTERN}\``));
    assert.ok(doc.includes(`\`${BLOB_NAME_PATTERN}\``));
    const v = randomTestVectors();
    assert.ok(doc.includes(`\`deriveSeed(1, "real", 0, "device-0", 0)\` = ${v.realSeed}`));
    assert.ok(doc.includes(`are ${v.rng1[0]} and ${v.rng1[1]};`));
    assert.ok(doc.includes(`\`Rng(${v.realSeed})\`'s first three are`));
    assert.ok(doc.includes(`${v.rngReal[0]}, ${v.rngReal[1]} and ${v.rngReal[2]}`));
    assert.ok(doc.includes(`gives device 0 the indices [${v.iid.join(', ')}]`));
  });
});
