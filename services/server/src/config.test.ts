import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadServerConfig } from './config.js';

describe('loadServerConfig', () => {
  it('puts RABBITMQ_PASSWORD and REDIS_PASSWORD into the URLs, encoded; the URLs alone still work', () => {
    const env = {
      RUN_ID: 'r1',
      RABBITMQ_URL: 'amqp://distgan@rabbitmq:5672',
      REDIS_URL: 'redis://redis:6379',
    };
    const c = loadServerConfig({ ...env, RABBITMQ_PASSWORD: 'a@b/c:d#e', REDIS_PASSWORD: 'f@g' });
    assert.equal(c.rabbitmqUrl, 'amqp://distgan:a%40b%2Fc%3Ad%23e@rabbitmq:5672');
    assert.equal(c.redisUrl, 'redis://:f%40g@redis:6379');
    assert.equal(loadServerConfig(env).rabbitmqUrl, 'amqp://distgan@rabbitmq:5672');
  });
});
