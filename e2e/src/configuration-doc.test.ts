import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { flagOf } from '@distgan/protocol';
import { SERVER_SETTINGS } from '@distgan/server';
import { CONFIGURATION_DOC, configurationDoc } from './configuration-doc.js';

describe('docs/configuration.md', () => {
  it('is what the settings schema generates (npm run docs:configuration rewrites it)', () => {
    assert.equal(readFileSync(CONFIGURATION_DOC, 'utf8'), configurationDoc());
  });

  it('lists every server variable with its default, and the flags of the embedded run', () => {
    const doc = configurationDoc();
    for (const [name, s] of Object.entries(SERVER_SETTINGS)) {
      assert.ok(doc.includes(`| \`${name}\` |`), name);
      if (typeof s.default === 'number') assert.ok(doc.includes(`\`${s.default}\``), name);
    }
    assert.ok(doc.includes(`| \`${flagOf('LOCAL_STEPS')}\` | \`1\` |`));
  });
});
