import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSettings } from '@distgan/protocol';
import {
  CONNECTION_SETTINGS,
  DATA_SETTINGS,
  modelSpecFor,
  withBrokerPasswords,
  withPassword,
} from './settings.js';

/* How amqplib (unescape) and ioredis and RedisBlobConnection (decodeURIComponent) read a URL's password. */
const amqplibPassword = (url: string): string => unescape(new URL(url).password);
const redisPassword = (url: string): string => decodeURIComponent(new URL(url).password);

describe('broker passwords apart from their URLs', () => {
  const hard = 'p@ss/w:rd#1%41?&=+ ;';

  it('a password with @ / : # % ? survives, and the rest of the URL is kept', () => {
    const amqp = withPassword('amqp://distgan@rabbitmq.ns.svc:5672/%2f', hard);
    assert.equal(amqplibPassword(amqp), hard);
    const u = new URL(amqp);
    assert.equal(u.username, 'distgan');
    assert.equal(u.hostname, 'rabbitmq.ns.svc');
    assert.equal(u.port, '5672');
    assert.equal(u.pathname, '/%2f');
    const redis = withPassword('rediss://redis.example:6380/2', hard);
    assert.equal(redisPassword(redis), hard);
    assert.equal(new URL(redis).username, '');
    assert.equal(new URL(redis).pathname, '/2');
  });

  it("replaces the URL's own password; none given leaves the URL as it is", () => {
    assert.equal(redisPassword(withPassword('redis://:old@redis:6379', 'new')), 'new');
    assert.equal(withPassword('amqp://u:p@h:5672', ''), 'amqp://u:p@h:5672');
  });

  it('RABBITMQ_PASSWORD and REDIS_PASSWORD from the environment; RABBITMQ_URL and REDIS_URL alone still work', () => {
    const base = {
      RUN_ID: 'r1',
      RABBITMQ_URL: 'amqp://distgan@rabbitmq:5672',
      REDIS_URL: 'redis://redis:6379',
    };
    const split = withBrokerPasswords(
      parseSettings(CONNECTION_SETTINGS, {
        ...base,
        RABBITMQ_PASSWORD: hard,
        REDIS_PASSWORD: 'a#b',
      }),
    );
    assert.equal(amqplibPassword(split.RABBITMQ_URL), hard);
    assert.equal(redisPassword(split.REDIS_URL), 'a#b');
    const alone = withBrokerPasswords(
      parseSettings(CONNECTION_SETTINGS, { ...base, RABBITMQ_URL: 'amqp://u:secret@h:5672' }),
    );
    assert.equal(alone.RABBITMQ_URL, 'amqp://u:secret@h:5672');
    assert.equal(alone.REDIS_URL, 'redis://redis:6379');
  });
});

describe('the model spec of a run (CONDITIONAL)', () => {
  const mnist = { name: 'mnist', sampleShape: [28, 28, 1] as const, numClasses: 10 };

  it("conditional by default, over the dataset's classes; false: unconditional", () => {
    const s = parseSettings(DATA_SETTINGS, {});
    assert.equal(s.CONDITIONAL, true);
    const spec = modelSpecFor({ model: 'dcgan', latentDim: 64, conditional: true }, mnist);
    assert.equal(spec.classes, 10);
    const ring = { name: 'ring', sampleShape: [1, 1, 2] as const, numClasses: 8 };
    assert.equal(modelSpecFor({ model: 'mlp', latentDim: 16, conditional: true }, ring).classes, 8);
    const off = modelSpecFor({ model: 'dcgan', latentDim: 64, conditional: false }, mnist);
    assert.equal(off.classes, undefined);
    assert.equal(parseSettings(DATA_SETTINGS, { CONDITIONAL: 'false' }).CONDITIONAL, false);
  });

  it('a latent too short for the classes is refused, naming both settings', () => {
    assert.throws(
      () => modelSpecFor({ model: 'dcgan', latentDim: 10, conditional: true }, mnist),
      /LATENT_DIM above 10.*got 10: set a longer LATENT_DIM or CONDITIONAL=false/,
    );
    assert.doesNotThrow(() =>
      modelSpecFor({ model: 'dcgan', latentDim: 10, conditional: false }, mnist),
    );
  });
});
