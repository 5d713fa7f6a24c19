export * from './redis-blob-store.js';
export * from './redis-blob-connection.js';
export * from './rabbit-round-transport.js';
export * from './redis-membership.js';
export * from './redis-checkpoint-store.js';
export * from './connect.js';
