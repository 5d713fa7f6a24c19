export * from './blob-store.js';
export * from './round-transport.js';
export * from './memory-blob-store.js';
export * from './memory-round-transport.js';
export * from './async-queue.js';
export * from './errors.js';
export * from './coordinator.js';
export * from './device-runtime.js';
