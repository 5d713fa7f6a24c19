#!/usr/bin/env node
// `npm run images`: builds every image the end-to-end suite runs (see images.ts), prints what it
// built or found cached, each image's size, and how long it all took.
import { buildImages } from './images.js';

const start = Date.now();
try {
  const images = await buildImages();
  const fresh = images.built.filter((b) => !b.cached);
  console.log(
    `\n${images.built.length} images, ${fresh.length} built, ${images.built.length - fresh.length} cached, ` +
      `in ${((Date.now() - start) / 1000).toFixed(1)} s`,
  );
  for (const b of images.built)
    console.log(`  ${b.name.padEnd(18)} ${(b.bytes / 1e6).toFixed(0).padStart(5)} MB  ${b.tag}`);
} catch (err) {
  console.error(`images: ${(err as Error).message}`);
  process.exit(1);
}
