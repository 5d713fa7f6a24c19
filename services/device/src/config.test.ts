import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadDeviceConfig } from './config.js';

describe('loadDeviceConfig', () => {
  it('puts RABBITMQ_PASSWORD and REDIS_PASSWORD into the URLs, encoded', () => {
    const c = loadDeviceConfig({
      RUN_ID: 'r1',
      RABBITMQ_URL: 'amqp://distgan@rabbitmq:5672',
      RABBITMQ_PASSWORD: 'a@b/c:d#e',
      REDIS_URL: 'redis://redis:6379',
      REDIS_PASSWORD: 'f@g',
      DEVICE_INDEX: '0',
      NUM_DEVICES: '1',
    });
    assert.equal(c.rabbitmqUrl, 'amqp://distgan:a%40b%2Fc%3Ad%23e@rabbitmq:5672');
    assert.equal(c.redisUrl, 'redis://:f%40g@redis:6379');
  });
});
