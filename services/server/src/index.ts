export { ServerApp } from './app.js';
export { loadServerConfig, SERVER_SETTINGS, type ServerConfig } from './config.js';
