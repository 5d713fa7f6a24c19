export * from './settings.js';
export * from './run-folder.js';
export * from './method-data.js';
export * from './evaluation.js';
export * from './compute.js';
export * from './identity.js';
