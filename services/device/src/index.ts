export { loadDeviceConfig, DEVICE_SETTINGS, type DeviceConfig } from './config.js';
