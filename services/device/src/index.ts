export { loadDeviceConfig, DEVICE_SETTINGS, type DeviceConfig } from './config.js';
export { buildDeviceApp, deviceData, type DeviceApp, type DeviceDeps } from './app.js';
