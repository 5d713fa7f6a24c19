export { ServerApp, type ServerDeps } from './app.js';
export { loadServerConfig, SERVER_SETTINGS, type ServerConfig } from './config.js';
