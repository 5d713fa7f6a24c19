/**
 * The devices of bench:scale, in a process of their own so that the server's phases are timed
 * on an event loop that runs only the server: N in-process device runtimes, each with its own
 * RabbitMQ connection and queue, over the RabbitMQ and Redis named by RABBITMQ_URL and REDIS_URL.
 *
 *   node --conditions=source --import tsx bench/scale-devices.ts <run-id> <devices>
 *
 * Prints one JSON line `{"ready":true,"connectMs":…}` once every device listens; stops on SIGTERM.
 */
import { partitionIid } from '@distgan/data';
import { initBackend, LocalDiscriminatorTrainer } from '@distgan/gan';
import { DeviceRuntime } from '@distgan/engine';
import { RabbitRoundTransport, RedisBlobStore } from '@distgan/transport';
import { SCALE_ADAM, SCALE_SPEC, scaleData, scaleDeviceId } from './scale-common.js';

const [runId, count] = [process.argv[2], Number(process.argv[3])];
if (!runId || !Number.isSafeInteger(count) || count < 1) {
  console.error('usage: scale-devices.ts <run-id> <devices>');
  process.exit(2);
}
const RABBITMQ_URL = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

await initBackend();
const t0 = performance.now();
const data = scaleData();
const shards = partitionIid(data.count, count, 1);
const store = new RedisBlobStore({ url: REDIS_URL });
const transports: RabbitRoundTransport[] = [];
const devices: DeviceRuntime[] = [];
for (let k = 0; k < count; k++) {
  const t = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
  transports.push(t);
  const d = new DeviceRuntime(new LocalDiscriminatorTrainer(SCALE_SPEC, SCALE_ADAM), t, store, {
    runId,
    deviceId: scaleDeviceId(k),
    data: { dataset: data, indices: shards[k]! },
    blobTtlSeconds: 120,
  });
  await d.start();
  devices.push(d);
}
console.log(JSON.stringify({ ready: true, connectMs: performance.now() - t0 }));

process.on('SIGTERM', () => {
  void (async () => {
    for (const d of devices) await d.stop().catch(() => {});
    for (const t of transports) await t.close().catch(() => {});
    await store.close().catch(() => {});
    process.exit(0);
  })();
});
