// Assembles src/backend/simd.wat into src/backend/simd-binary.ts (the module's bytes as base64),
// so that the library needs no assembler at run time. A unit test checks the two agree.
import { readFileSync, writeFileSync } from 'node:fs';
import wabtInit from 'wabt';

const watPath = new URL('../src/backend/simd.wat', import.meta.url);
const outPath = new URL('../src/backend/simd-binary.ts', import.meta.url);
const wabt = await wabtInit();
const module = wabt.parseWat('simd.wat', readFileSync(watPath, 'utf8'), { simd: true });
module.validate();
const { buffer } = module.toBinary({});
module.destroy();
writeFileSync(
  outPath,
  `// Generated from simd.wat by scripts/assemble-simd.mjs: do not edit.\n` +
    `export const SIMD_WASM_BASE64 =\n  '${Buffer.from(buffer).toString('base64')}';\n`,
);
console.log(`simd-binary.ts: ${buffer.length} bytes of wasm`);
