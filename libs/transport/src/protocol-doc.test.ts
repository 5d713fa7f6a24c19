import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LEAVE_SCRIPT, REGISTER_SCRIPT } from './redis-membership.js';

/* docs/protocol.md §6.2 gives the membership scripts a device must run: they are the code's. */
const DOC = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
const luaBlocks = [...DOC.matchAll(/```lua\n([\s\S]*?)\n```/g)].map((m) => m[1]);

describe('docs/protocol.md, membership scripts', () => {
  it('shows the registration and leave scripts exactly as Redis runs them', () => {
    assert.deepEqual(luaBlocks, [REGISTER_SCRIPT.trim(), LEAVE_SCRIPT.trim()]);
  });
});
