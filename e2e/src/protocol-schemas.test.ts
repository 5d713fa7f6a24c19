import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { MESSAGE_TYPES, RECORD_SCHEMAS } from '@distgan/protocol';
import { PUBLISHED, SCHEMAS_DIR, schemaFiles } from './protocol-schemas.js';

describe('docs/protocol/schemas', () => {
  it('are what the TypeBox definitions generate (npm run docs:schemas rewrites them)', () => {
    const files = schemaFiles();
    assert.deepEqual(
      readdirSync(SCHEMAS_DIR).sort(),
      Object.keys(files).sort(),
      'one file per published schema, no other',
    );
    for (const [f, text] of Object.entries(files))
      assert.equal(readFileSync(join(SCHEMAS_DIR, f), 'utf8'), text, `${f} drifted`);
  });

  it('publish every message and every record', () => {
    assert.deepEqual(
      Object.keys(PUBLISHED).sort(),
      [...MESSAGE_TYPES, ...Object.keys(RECORD_SCHEMAS)].sort(),
    );
  });

  it('compile as JSON Schema 2020-12 (ajv, strict)', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    for (const f of Object.keys(schemaFiles())) {
      const schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, f), 'utf8')) as object;
      assert.doesNotThrow(() => ajv.compile(schema), f);
    }
  });
});
