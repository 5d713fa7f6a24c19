export * from './settings.js';
export * from './run-folder.js';
