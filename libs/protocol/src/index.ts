export * from './errors.js';
export * from './weights.js';
export * from './float16.js';
export * from './codec.js';
export * from './names.js';
export * from './messages.js';
export * from './settings.js';
export * from './timings.js';
