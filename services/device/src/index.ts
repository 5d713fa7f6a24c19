export { loadDeviceConfig, DEVICE_SETTINGS, type DeviceConfig } from './config.js';
export { buildDeviceApp, type DeviceApp, type DeviceDeps } from './app.js';
