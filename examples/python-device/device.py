#!/usr/bin/env python3
"""A distgan device in Python, written from docs/protocol.md (protocol version 5).

It trains the ring's MLP discriminator with numpy on data of its own (a registration with
`shard` -1 and `numDevices` 0), verifies and writes SHA-256 blobs, and speaks to the server
through RabbitMQ (pika) and Redis (redis-py) only. Section numbers (§) refer to docs/protocol.md.

Settings come from the environment, with the names the TypeScript device uses:
RABBITMQ_URL, REDIS_URL, RUN_ID, DEVICE_ID (default device-<DEVICE_INDEX>), DATASET (ring),
MODEL (mlp), METHOD (distgan), LATENT_DIM, SEED, LIMIT, RING_STD, PARTITION, ALPHA,
SHARDS_PER_DEVICE, HEARTBEAT_S, HEARTBEAT_TIMEOUT_S, UPDATE_TTL_S.

Exit status: 0 the run finished or the device was stopped (SIGTERM, SIGINT), 1 the run failed,
2 refused (another identity, the id held by another instance, a bad setting).
"""

import hashlib
import json
import math
import os
import signal
import struct
import sys
import threading
import time
import uuid

import numpy as np
import pika
import redis

PROTOCOL_VERSION = 5
MAX_MESSAGE_BYTES = 1 << 20

# §6.2: the membership scripts, exactly as the server's devices run them.
REGISTER_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return false"""
LEAVE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1"""


def log(message):
    print(f"python-device: {message}", file=sys.stderr, flush=True)


class Refused(Exception):
    """The device cannot take part (exit status 2)."""


class Declined(Exception):
    """A task this device will not train (§8 steps 4 to 6): the server is told why."""


# ---------------------------------------------------------------------------------------------
# Settings


class Config:
    def __init__(self, env):
        def get(name, default=None):
            value = env.get(name, "")
            if value == "":
                if default is None:
                    raise Refused(f"{name} is required")
                return default
            return value

        self.rabbitmq_url = get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
        self.redis_url = get("REDIS_URL", "redis://127.0.0.1:6379")
        self.run_id = get("RUN_ID", "default")
        self.device_id = get("DEVICE_ID", f"device-{get('DEVICE_INDEX', '0')}")
        self.heartbeat_s = float(get("HEARTBEAT_S", "2"))
        self.heartbeat_timeout_s = int(get("HEARTBEAT_TIMEOUT_S", "10"))
        self.update_ttl_s = int(get("UPDATE_TTL_S", "600"))
        limit = int(get("LIMIT", "0"))
        # §6.1: the identity; this device holds data of its own, so numDevices is 0.
        self.identity = {
            "protocol": PROTOCOL_VERSION,
            "method": get("METHOD", "distgan"),
            "dataset": get("DATASET", "mnist"),
            "model": get("MODEL", "mlp"),
            "modelWidth": int(get("MODEL_WIDTH", "32")),
            "latentDim": int(get("LATENT_DIM", "64")),
            "seed": int(get("SEED", "1")),
            "limit": limit,
            "ringStd": float(get("RING_STD", "0.05")),
            "partition": get("PARTITION", "iid"),
            "alpha": float(get("ALPHA", "0.5")),
            "shardsPerDevice": int(get("SHARDS_PER_DEVICE", "2")),
            "numDevices": 0,
        }
        i = self.identity
        if (i["method"], i["dataset"], i["model"], i["modelWidth"]) != ("distgan", "ring", "mlp", 32):
            raise Refused(
                f"this device trains METHOD distgan, DATASET ring, MODEL mlp, MODEL_WIDTH 32 only, "
                f"not {i['method']}, {i['dataset']}, {i['model']}, {i['modelWidth']}"
            )
        self.samples = limit if limit > 0 else 20000


def derive_seed(*parts):
    """deriveSeed of §10.1: a 32-bit seed from numbers and strings."""
    h = 0x811C9DC5
    for part in parts:
        for c in str(part):
            h = ((h ^ ord(c)) * 0x01000193) & 0xFFFFFFFF
        h = ((h ^ 0x2C) * 0x01000193) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def ring_samples(count, std, seed):
    """§10.2's ring, drawn with numpy: 8 modes on a circle of radius 2, each N(centre, std²)."""
    rng = np.random.default_rng(seed)
    modes = rng.integers(0, 8, size=count)
    angle = 2 * np.pi * modes / 8
    points = np.stack([2 * np.cos(angle), 2 * np.sin(angle)], axis=1)
    return (points + std * rng.standard_normal((count, 2))).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Weight blobs (§5): format 2, float32, SHA-256


def ring_mlp_specs(prefix, widths):
    """Tensor names and shapes of §9.1's MLP: kernels [in, out], then biases."""
    specs = []
    for i in range(len(widths) - 1):
        specs.append((f"{prefix}/dense{i}/kernel", [widths[i], widths[i + 1]]))
        specs.append((f"{prefix}/dense{i}/bias", [widths[i + 1]]))
    return specs


def encode_blob(specs, arrays):
    header = json.dumps(
        {
            "tensors": [{"name": n, "shape": s} for n, s in specs],
            "count": int(sum(a.size for a in arrays)),
        },
        separators=(",", ":"),
    ).encode()
    data_offset = (44 + len(header) + 7) & ~7
    data = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays)
    body = header + bytes(data_offset - 44 - len(header)) + data
    prefix = b"DGWB" + struct.pack("<HBBI", 2, 0, 0, len(header))  # float32, SHA-256
    return prefix + hashlib.sha256(body).digest() + body


def decode_blob(blob, announced_digest, specs):
    """The arrays of a blob, after every check of §5; raises Declined naming the first failure."""
    if len(blob) < 44 or blob[:4] != b"DGWB":
        raise Declined("not a weight blob (magic)")
    version, dtype, algorithm, header_len = struct.unpack_from("<HBBI", blob, 4)
    if version not in (1, 2):
        raise Declined(f"blob format version {version}")
    if dtype != 0:
        raise Declined(f"blob dtype {dtype}: this device reads float32 only")
    if algorithm != 0:
        raise Declined(f"blob digest algorithm {algorithm}: this device verifies SHA-256 only")
    digest = blob[12:44].hex()
    if hashlib.sha256(blob[44:]).hexdigest() != digest:
        raise Declined("the blob's content does not match its digest")
    if digest != announced_digest:
        raise Declined(f"blob digest {digest} differs from the task's {announced_digest}")
    if 44 + header_len > len(blob):
        raise Declined("the blob's header runs past its end")
    header = json.loads(blob[44 : 44 + header_len].decode("utf-8"))
    found = [(t["name"], list(t["shape"])) for t in header["tensors"]]
    if found != [(n, list(s)) for n, s in specs]:
        raise Declined(f"tensors {found} are not this device's model {specs}")
    count = sum(math.prod(s) for _, s in specs)
    data_offset = (44 + header_len + 7) & ~7
    if header["count"] != count or len(blob) != data_offset + 4 * count:
        raise Declined("the blob's length or count disagrees with its shapes")
    values = np.frombuffer(blob, dtype="<f4", count=count, offset=data_offset)
    if not np.all(np.isfinite(values)):
        raise Declined("the blob holds a value that is not finite")
    arrays, at = [], 0
    for _, shape in specs:
        n = math.prod(shape)
        arrays.append(values[at : at + n].reshape(shape).astype(np.float32))
        at += n
    return arrays


# ---------------------------------------------------------------------------------------------
# The model, the loss and Adam (§9)


def leaky_relu(a):
    return np.where(a >= 0, a, 0.2 * a)


def mlp_forward(params, x):
    """dense0 → LeakyReLU → dense1 → LeakyReLU → dense2; returns the output and what backward needs."""
    inputs, pre = [], []
    h = x
    for i in range(3):
        inputs.append(h)
        z = h @ params[2 * i] + params[2 * i + 1]
        pre.append(z)
        h = leaky_relu(z) if i < 2 else z
    return h, (inputs, pre)


def mlp_backward(params, cache, grad_out):
    """Gradients of the parameters, given the gradient of the loss with respect to the output."""
    inputs, pre = cache
    grads = [None] * 6
    g = grad_out
    for i in reversed(range(3)):
        if i < 2:
            g = g * np.where(pre[i] >= 0, 1.0, 0.2).astype(np.float32)
        grads[2 * i] = inputs[i].T @ g
        grads[2 * i + 1] = g.sum(axis=0)
        g = g @ params[2 * i].T
    return grads


def softplus(a):
    return np.logaddexp(0, a)


def sigmoid(a):
    return np.exp(-np.logaddexp(0, -a))


def discriminator_step(generator, discriminator, adam, x, z, lr, beta1, beta2):
    """One local step (§9.2): L_D on a real and a fake batch, its gradient for D only, one Adam step.

    Returns (L_D, dReal, dFake); the discriminator's arrays are updated in place.
    """
    batch = len(x)
    fake, _ = mlp_forward(generator, z)  # G is only read: no gradient flows into it
    real_logit, real_cache = mlp_forward(discriminator, x)
    fake_logit, fake_cache = mlp_forward(discriminator, fake)
    d_real = float(np.mean(softplus(-real_logit)))
    d_fake = float(np.mean(softplus(fake_logit)))
    # d/da softplus(-a) = -sigmoid(-a) and d/da softplus(a) = sigmoid(a), each over a batch mean.
    g_real = mlp_backward(discriminator, real_cache, -sigmoid(-real_logit) / batch)
    g_fake = mlp_backward(discriminator, fake_cache, sigmoid(fake_logit) / batch)
    adam.step(discriminator, [a + b for a, b in zip(g_real, g_fake)], lr, beta1, beta2)
    return d_real + d_fake, d_real, d_fake


class Adam:
    """§9.3: TensorFlow's form, ε added to √v."""

    def __init__(self):
        self.settings = None
        self.reset()

    def reset(self):
        self.t, self.m, self.v = 0, None, None

    def step(self, params, grads, lr, beta1, beta2, eps=1e-8):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        lr_t = lr * math.sqrt(1 - beta2**self.t) / (1 - beta1**self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= (lr_t * m / (np.sqrt(v) + eps)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The device


class Device:
    def __init__(self, cfg):
        self.cfg = cfg
        self.instance = str(uuid.uuid4())
        # When it joined: the same in every rewrite, since the server orders claims by it.
        self.registered_at = int(time.time() * 1000)
        run, dev = cfg.run_id, cfg.device_id
        self.devices_key = f"distgan:{run}:devices"
        self.alive_key = f"distgan:{run}:alive:{dev}"
        self.refusals_key = f"distgan:{run}:refusals"
        self.run_key = f"distgan:{run}:run"
        self.tasks_exchange = f"distgan.{run}.tasks"
        self.queue = f"distgan.{run}.device.{dev}"
        latent = cfg.identity["latentDim"]
        self.g_specs = ring_mlp_specs("g", [latent, 128, 128, 2])
        self.d_specs = ring_mlp_specs("d", [2, 128, 128, 1])
        self.data = ring_samples(
            cfg.samples, cfg.identity["ringStd"], derive_seed(cfg.identity["seed"], "own", dev)
        )
        self.adam = Adam()
        self.last_round = None
        self.redis = redis.Redis.from_url(cfg.redis_url)
        self.stop = threading.Event()
        self.exit_code = 0

    # -- membership (§6) ------------------------------------------------------------------

    def registration(self):
        return json.dumps(
            {
                "deviceId": self.cfg.device_id,
                "instance": self.instance,
                "samples": self.cfg.samples,
                "shard": -1,
                "backend": "numpy",
                "digests": ["sha256"],
                "registeredAt": self.registered_at,
                "identity": self.cfg.identity,
            },
            separators=(",", ":"),
        )

    def register(self):
        """The register script; the instance holding the id when another does, else None."""
        holder = self.redis.eval(
            REGISTER_SCRIPT,
            2,
            self.alive_key,
            self.devices_key,
            self.instance,
            self.cfg.heartbeat_timeout_s,
            self.cfg.device_id,
            self.registration(),
        )
        return holder.decode() if holder else None

    def run_status(self):
        """The run record's verdict: an exit code when the device must not (or no longer) take part."""
        raw = self.redis.get(self.run_key)
        if raw is None:
            return None  # no server yet: not a reason to wait (§6.2)
        record = json.loads(raw)
        run, mine = record["identity"], self.cfg.identity
        if run["protocol"] != PROTOCOL_VERSION:
            log(f"the device speaks protocol version {PROTOCOL_VERSION}, the run protocol version {run['protocol']}")
            return 2
        for key in ("method", "dataset", "model", "modelWidth", "latentDim", "ringStd"):
            if run[key] != mine[key]:
                log(f"{key} differs: the device has {mine[key]}, the run {run[key]}")
                return 2
        return {"finished": 0, "failed": 1}.get(record["status"])

    def join(self):
        code = self.run_status()
        if code is not None:
            raise SystemExit(code)
        give_up = time.time() + self.cfg.heartbeat_timeout_s + 2
        while (holder := self.register()) is not None:
            if time.time() > give_up:
                raise Refused(f"device id {self.cfg.device_id} is held by instance {holder}")
            time.sleep(0.5)

    def heartbeat_loop(self):
        while not self.stop.wait(self.cfg.heartbeat_s):
            try:
                refusal = self.redis.hget(self.refusals_key, self.cfg.device_id)
                if refusal and json.loads(refusal)["instance"] == self.instance:
                    log(f"refused: {json.loads(refusal)['reason']}")
                    self.end(2)
                    return
                code = self.run_status()
                if code is not None:
                    self.end(code)
                    return
                holder = self.register()
                if holder is not None:
                    log(f"device id {self.cfg.device_id} is now held by instance {holder}")
                    self.end(2)
                    return
            except redis.exceptions.RedisError as err:
                log(f"heartbeat failed, retried at the next beat: {err}")

    def end(self, code):
        self.exit_code = code
        self.stop.set()

    def leave(self):
        self.redis.eval(
            LEAVE_SCRIPT, 2, self.alive_key, self.devices_key, self.instance, self.cfg.device_id
        )

    # -- tasks (§7, §8) -------------------------------------------------------------------

    def run(self):
        self.join()
        beat = threading.Thread(target=self.heartbeat_loop, daemon=True)
        beat.start()
        connection = pika.BlockingConnection(pika.URLParameters(self.cfg.rabbitmq_url))
        channel = connection.channel()
        channel.confirm_delivery()
        run, dev = self.cfg.run_id, self.cfg.device_id
        channel.exchange_declare(self.tasks_exchange, "topic", durable=True)
        channel.queue_declare(
            self.queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": f"distgan.{run}.dead",
                "x-delivery-limit": 10,
                "x-expires": 86400000,
            },
        )
        channel.queue_bind(self.queue, self.tasks_exchange, "round")
        channel.queue_bind(self.queue, self.tasks_exchange, f"device.{dev}")
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(self.queue, self.on_message)
        log(f"joined run {run} as {dev} ({self.cfg.samples} samples of its own)")
        while not self.stop.is_set():
            connection.process_data_events(time_limit=0.2)
        # Stopping: the task in hand has finished (callbacks run inside process_data_events);
        # closing the channel gives back any task delivered but not taken.
        channel.close()
        connection.close()
        beat.join()
        self.leave()
        return self.exit_code

    def on_message(self, channel, method, properties, body):
        tag = method.delivery_tag
        try:
            task = self.parse_task(body)
        except (ValueError, KeyError, TypeError) as err:
            log(f"rejected a message that is not a task of this run: {err}")
            channel.basic_nack(tag, requeue=False)
            return
        t = task["round"]
        if self.cfg.device_id not in task["participants"]:
            channel.basic_ack(tag)
            return
        if task["deadlineAt"] < time.time() * 1000:
            channel.basic_ack(tag)
            return
        reply = lambda message: self.publish(channel, task["replyTo"], message)  # noqa: E731
        try:
            update = self.train(task)
        except Declined as err:
            self.decline(reply, t, str(err))
            channel.basic_nack(tag, requeue=False)
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            log(f"round {t}: Redis failed, the task goes back to the queue: {err}")
            channel.basic_nack(tag, requeue=True)
            return
        except Exception as err:  # a bug or an unsupported task: never retried here
            self.decline(reply, t, f"failed: {err!r}")
            channel.basic_nack(tag, requeue=False)
            return
        if update is None:  # §8 step 7: diverged
            self.decline(reply, t, "local training diverged")
            channel.basic_ack(tag)
            return
        try:
            reply(update)
        except pika.exceptions.UnroutableError:
            pass  # the round's queue is gone: the round closed without this answer
        channel.basic_ack(tag)

    def parse_task(self, body):
        if len(body) > MAX_MESSAGE_BYTES:
            raise ValueError("over 1 MiB")
        task = json.loads(body.decode("utf-8"))
        if task.get("type") != "RoundTask":
            raise ValueError(f"type {task.get('type')!r}")
        if task.get("version") != PROTOCOL_VERSION:
            raise ValueError(f"RoundTask has protocol version {task.get('version')}, this device speaks version {PROTOCOL_VERSION}")
        if task.get("runId") != self.cfg.run_id:
            raise ValueError(f"run {task.get('runId')!r}")
        required = {"round", "method", "schedule", "inputs", "outputs", "replyTo", "deadlineAt", "issuedAt", "training", "seed", "participants"}
        allowed = required | {"type", "version", "runId", "deviceInputs"}
        if not required <= task.keys() or not task.keys() <= allowed:
            raise ValueError(f"fields {sorted(task.keys())}")
        # Without a JSON Schema library: the fields this device uses, their types and ranges, and
        # no field the spec does not list in the objects it reads (docs/protocol.md section 4).
        def check(ok, what):
            if not ok:
                raise ValueError(f"RoundTask {what}")

        is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)
        check(is_int(task["round"]) and task["round"] >= 0, "/round")
        check(isinstance(task["deadlineAt"], (int, float)), "/deadlineAt")
        check(is_int(task["seed"]) and task["seed"] >= 0, "/seed")
        check(isinstance(task["replyTo"], str), "/replyTo")
        check(
            isinstance(task["participants"], list)
            and all(isinstance(p, str) for p in task["participants"]),
            "/participants",
        )
        check(isinstance(task["outputs"], list), "/outputs")
        training = task["training"]
        check(isinstance(training, dict), "/training")
        check(
            {"localSteps", "batchSize", "learningRate", "beta1", "beta2"} <= training.keys()
            <= {"localSteps", "batchSize", "learningRate", "beta1", "beta2", "generatorSteps", "generatorLearningRate"},
            "/training: fields",
        )
        check(is_int(training["localSteps"]) and training["localSteps"] >= 1, "/training/localSteps")
        check(is_int(training["batchSize"]) and training["batchSize"] >= 1, "/training/batchSize")
        refs = dict(task["inputs"])
        for own in (task.get("deviceInputs") or {}).values():
            refs.update(own)
        for name, ref in refs.items():
            check(
                isinstance(ref, dict)
                and ref.keys() == {"key", "digest"}
                and isinstance(ref["key"], str)
                and isinstance(ref["digest"], str)
                and len(ref["digest"]) == 64,
                f"/inputs/{name}",
            )
        return task

    def decline(self, reply, t, reason):
        log(f"round {t}: declined: {reason}")
        try:
            reply(
                {
                    "type": "TaskDeclined",
                    "version": PROTOCOL_VERSION,
                    "runId": self.cfg.run_id,
                    "round": t,
                    "deviceId": self.cfg.device_id,
                    "reason": reason[:1024] or "declined",
                    "sentAt": int(time.time() * 1000),
                }
            )
        except pika.exceptions.AMQPError:
            pass  # given up: the round's deadline closes the round

    def publish(self, channel, reply_to, message):
        channel.basic_publish(
            exchange="",
            routing_key=reply_to,
            body=json.dumps(message, separators=(",", ":")).encode(),
            properties=pika.BasicProperties(content_type="application/json", delivery_mode=2),
            mandatory=True,
        )

    def train(self, task):
        """§9.2: L discriminator steps from the round's weights; the update, or None if it diverged."""
        t, dev = task["round"], self.cfg.device_id
        if task["method"] != "distgan":
            raise Declined(f"task of method {task['method']!r}, this device runs distgan")
        inputs = {**task["inputs"], **task.get("deviceInputs", {}).get(dev, {})}
        if set(inputs) != {"generator", "discriminator"} or task["outputs"] != ["discriminator"]:
            raise Declined(f"distgan reads generator and discriminator and writes discriminator, not {sorted(inputs)} → {task['outputs']}")

        def fetch(name, specs):
            blob = self.redis.get(inputs[name]["key"])
            if blob is None:
                raise Declined(f"round {t}'s input {inputs[name]['key']} is not in Redis")
            return decode_blob(blob, inputs[name]["digest"], specs)

        generator = fetch("generator", self.g_specs)
        discriminator = fetch("discriminator", self.d_specs)

        training = task["training"]
        lr, beta1, beta2 = training["learningRate"], training["beta1"], training["beta2"]
        # §9.3: a fresh Adam after a gap in rounds (or a redelivered round), or new settings.
        reset = self.last_round is None or t != self.last_round + 1
        if reset or self.adam.settings != (lr, beta1, beta2):
            self.adam.reset()
        self.adam.settings = (lr, beta1, beta2)

        started = time.perf_counter()
        batch, latent = training["batchSize"], self.cfg.identity["latentDim"]
        losses = []
        for step in range(training["localSteps"]):
            # Seeded by the task, so that a redelivered task gives the same update.
            rng = np.random.default_rng(derive_seed(task["seed"], "python", t, dev, step))
            x = self.data[rng.integers(0, len(self.data), size=batch)]
            z = rng.standard_normal((batch, latent)).astype(np.float32)
            losses.append(discriminator_step(generator, discriminator, self.adam, x, z, lr, beta1, beta2))
        compute_ms = (time.perf_counter() - started) * 1000
        self.last_round = t
        d, d_real, d_fake = (float(np.mean([l[i] for l in losses])) for i in range(3))
        if not all(math.isfinite(v) for v in (d, d_real, d_fake)):
            return None

        blob = encode_blob(self.d_specs, discriminator)
        key = f"distgan:{self.cfg.run_id}:u:{t}:{dev}:discriminator"
        self.redis.set(key, blob, ex=self.cfg.update_ttl_s)
        return {
            "type": "DeviceUpdate",
            "version": PROTOCOL_VERSION,
            "runId": self.cfg.run_id,
            "round": t,
            "deviceId": dev,
            "samples": self.cfg.samples,
            "outputs": {
                "discriminator": {"key": key, "digest": blob[12:44].hex(), "bytes": len(blob)}
            },
            "losses": {"d": d, "dReal": d_real, "dFake": d_fake},
            "computeMs": compute_ms,
            "steps": training["localSteps"],
            "optimizerReset": reset,
            "sentAt": int(time.time() * 1000),
        }


def main():
    try:
        device = Device(Config(os.environ))
        stop = lambda *_: device.end(0)  # noqa: E731
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sys.exit(device.run())
    except Refused as err:
        log(f"refused: {err}")
        sys.exit(2)


if __name__ == "__main__":
    main()
