import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse } from 'yaml';
import { SERVER_SETTINGS } from '@distgan/server';
import { DEVICE_SETTINGS } from '@distgan/device';

/*
 * The deployment, checked offline: every manifest kustomize builds from k8s/ validates against
 * the Kubernetes API schemas (kubernetes-models); the chart's values schema accepts the shipped
 * values files and refuses bad ones; the chart and k8s/ describe the same objects; and, where
 * helm is on the PATH, every document the chart renders validates too.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = `${root}charts/distgan/`;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

async function validate(obj: K8sObject): Promise<void> {
  const group = obj.apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${obj.apiVersion}`
    : `kubernetes-models/${obj.apiVersion}`;
  const mod = (await import(`${group}/${obj.kind}`)) as Record<
    string,
    new (o: unknown) => { validate(): void }
  >;
  const Model = mod[obj.kind];
  assert.ok(Model, `no schema for ${obj.apiVersion} ${obj.kind}`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${obj.kind}/${obj.metadata.name}: ${(err as Error).message}`, { cause: err });
  }
}

function kustomize(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', `${root}${dir}`], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJSON() as K8sObject);
}

type Container = {
  name: string;
  ports?: { containerPort: number }[];
  env?: { name: string }[];
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
  resources?: { limits?: Record<string, unknown> };
  securityContext?: { readOnlyRootFilesystem?: boolean };
};
const containersOf = (o: K8sObject): Container[] =>
  ((o.spec?.['template'] as { spec: { containers: Container[] } } | undefined)?.spec.containers ??
    []) as Container[];

describe('k8s/ (kustomize)', () => {
  for (const dir of ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/gpu']) {
    it(`${dir}: every object validates against the Kubernetes API schemas`, async () => {
      const objects = kustomize(dir);
      assert.ok(objects.length >= 8, `${objects.length} objects`);
      for (const o of objects) await validate(o);
      const kinds = new Set(objects.map((o) => o.kind));
      for (const k of [
        'Deployment',
        'StatefulSet',
        'Service',
        'ConfigMap',
        'PodDisruptionBudget',
        'NetworkPolicy',
      ])
        assert.ok(kinds.has(k), `${dir} has a ${k}`);
      for (const o of objects.filter((x) => x.metadata.name.startsWith('distgan-'))) {
        for (const c of containersOf(o)) {
          assert.equal(
            c.securityContext?.readOnlyRootFilesystem,
            true,
            `${o.metadata.name} read-only root`,
          );
        }
      }
    });
  }

  it('the validation refuses a broken manifest', async () => {
    const sts = structuredClone(kustomize('k8s/base').find((o) => o.kind === 'StatefulSet')!);
    containersOf(sts)[0]!.ports = [{ containerPort: 'http' as unknown as number }];
    await assert.rejects(validate(sts), /containerPort/);
    await assert.rejects(validate({ ...sts, spec: { ...sts.spec, replicas: 'four' } }), /replicas/);
  });

  it('the gpu overlay asks for a GPU per device and uses the GPU image', () => {
    const sts = kustomize('k8s/overlays/gpu').find((o) => o.kind === 'StatefulSet')!;
    const [c] = containersOf(sts);
    assert.equal(c!.resources?.limits?.['nvidia.com/gpu'], 1);
    assert.match(JSON.stringify(sts), /distgan-device:[^"]*-gpu/);
  });

  it('the run ConfigMap holds only settings that the server or the device reads', () => {
    const cm = kustomize('k8s/base').find((o) => o.kind === 'ConfigMap')!;
    const known = new Set([
      ...Object.keys(SERVER_SETTINGS),
      ...Object.keys(DEVICE_SETTINGS),
      'TFJS_BACKEND',
    ]);
    for (const key of Object.keys(cm.data ?? {}))
      assert.ok(known.has(key), `${key} is read by no service`);
  });
});

describe('container images (Dockerfiles, checked statically: no container engine here)', () => {
  for (const f of [
    'services/server/Dockerfile',
    'services/device/Dockerfile',
    'services/device/Dockerfile.gpu',
  ]) {
    it(`${f}: multi-stage, production dependencies only, non-root, health check`, () => {
      const text = readFileSync(`${root}${f}`, 'utf8');
      assert.ok((text.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
      assert.match(text, /npm prune --omit=dev/);
      assert.match(text, /^USER node$/m);
      assert.match(text, /^HEALTHCHECK .*\\\n\s+CMD .*\/healthz/m);
      assert.match(text, /^CMD \["node", "services\/(server|device)\/dist\/main\.js"\]$/m);
      for (const [, src] of text.matchAll(/^COPY (?!--from)(\S+)/gm)) {
        assert.ok(existsSync(`${root}${src}`), `${f} copies ${src}, which exists`);
      }
    });
  }
  it('the GPU image is built on the CUDA and cuDNN that tfjs-node-gpu 4.x needs', () => {
    const text = readFileSync(`${root}services/device/Dockerfile.gpu`, 'utf8');
    assert.match(text, /^FROM nvidia\/cuda:11\.2\.\d+-cudnn8-runtime/m);
    assert.match(text, /@tensorflow\/tfjs-node-gpu@4\.22\.0/);
  });
});

describe('charts/distgan', () => {
  const schema = JSON.parse(readFileSync(`${chart}values.schema.json`, 'utf8')) as object;
  const defaults = parse(readFileSync(`${chart}values.yaml`, 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const check = ajv.compile(schema);
  const merge = (a: unknown, b: unknown): unknown => {
    if (
      typeof a !== 'object' ||
      a === null ||
      Array.isArray(a) ||
      typeof b !== 'object' ||
      b === null ||
      Array.isArray(b)
    )
      return b;
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
    return out;
  };
  const withValues = (patch: unknown): unknown => merge(structuredClone(defaults), patch);

  it('values.schema.json accepts the default and the example values files', () => {
    assert.ok(check(defaults), ajv.errorsText(check.errors));
    for (const f of readdirSync(chart).filter((n) => /^values-.*\.yaml$/.test(n))) {
      const v = withValues(parse(readFileSync(`${chart}${f}`, 'utf8')));
      assert.ok(check(v), `${f}: ${ajv.errorsText(check.errors)}`);
    }
  });

  it('values.schema.json refuses wrong values', () => {
    const bad: [string, unknown][] = [
      ['an unknown schedule', { run: { schedule: 'async' } }],
      ['negative replicas', { devices: { replicas: -1 } }],
      ['a run id with a slash', { run: { id: 'a/b' } }],
      ['a learning rate of 0', { run: { lrD: 0 } }],
      ['a string for a number', { run: { latentDim: '64' } }],
      ['an unknown model', { run: { model: 'vit' } }],
      ['a misspelt key', { devices: { replica: 3 } }],
      ['a port out of range', { server: { port: 70000 } }],
      ['beta1 of 1', { run: { beta1: 1 } }],
    ];
    for (const [what, patch] of bad)
      assert.equal(check(withValues(patch)), false, `accepted ${what}`);
  });

  it('the dashboard is valid JSON over the metrics the services export', () => {
    const dash = JSON.parse(readFileSync(`${chart}dashboards/distgan.json`, 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const metrics = readFileSync(`${root}libs/telemetry/src/metrics.ts`, 'utf8');
    const exported = new Set([...metrics.matchAll(/name: '(distgan_[a-z_]+)'/g)].map((m) => m[1]!));
    for (const p of dash.panels) {
      for (const t of p.targets) {
        for (const [name] of t.expr.matchAll(/distgan_[a-z_]+/g)) {
          const base = name.replace(/_(bucket|count|sum)$/, '');
          assert.ok(exported.has(base), `the dashboard queries ${name}, which no service exports`);
        }
      }
    }
  });

  it('describes the same objects as k8s/: names, ports, probes, environment', () => {
    // The chart's names for the release "distgan", read from the templates' text.
    const text = (f: string): string =>
      readFileSync(`${chart}templates/${f}`, 'utf8').replaceAll(
        '{{ include "distgan.fullname" . }}',
        'distgan',
      );
    const base = kustomize('k8s/base');
    const byKind = (kind: string): K8sObject[] => base.filter((o) => o.kind === kind);
    const server = text('server.yaml');
    const devices = text('devices.yaml');
    const helpers = text('_helpers.tpl');
    for (const o of [
      ...byKind('Deployment'),
      ...byKind('StatefulSet'),
      ...byKind('Service'),
      ...byKind('PodDisruptionBudget'),
    ]) {
      assert.ok(
        `${server}${devices}`.includes(`name: ${o.metadata.name}`),
        `${o.kind} ${o.metadata.name} is in the chart`,
      );
    }
    const chartCm = [...text('configmap.yaml').matchAll(/^ {2}([A-Z_0-9]+):/gm)]
      .map((m) => m[1])
      .sort();
    const k8sCm = Object.keys(byKind('ConfigMap')[0]!.data ?? {}).sort();
    assert.deepEqual(chartCm, k8sCm, 'run ConfigMap keys');
    const values = defaults as { server: { port: number }; devices: { port: number } };
    for (const [o, tpl, port] of [
      [byKind('Deployment')[0]!, server, values.server.port],
      [byKind('StatefulSet')[0]!, devices, values.devices.port],
    ] as const) {
      const [c] = containersOf(o);
      assert.equal(c!.ports?.[0]?.containerPort, port, `${o.metadata.name} port`);
      const probes = [c!.readinessProbe?.httpGet?.path, c!.livenessProbe?.httpGet?.path];
      const chartProbes = [...tpl.matchAll(/^\s+path: (\/[a-z]+)$/gm)].map((m) => m[1]);
      assert.deepEqual(chartProbes, probes, `${o.metadata.name} probes`);
      const env = (c!.env ?? []).map((e) => e.name).sort();
      const chartEnv = [...`${tpl}\n${helpers}`.matchAll(/- name: ([A-Z_]+)$/gm)]
        .map((m) => m[1]!)
        .filter((n) => n !== 'RABBITMQ_PASSWORD') // bundled RabbitMQ only
        .sort();
      assert.deepEqual([...new Set(chartEnv)], env, `${o.metadata.name} environment`);
    }
  });

  it('renders documents that validate, with the default and the GPU values (needs helm)', async (t) => {
    if (spawnSync('helm', ['version'], { stdio: 'ignore' }).status !== 0) {
      console.log('chart rendering was not checked: helm is not on the PATH');
      t.skip(
        'helm is not on the PATH: the chart was not rendered (names, ports, probes and env were compared with k8s/ instead)',
      );
      return;
    }
    execFileSync('helm', ['lint', chart, '--strict'], { stdio: 'inherit' });
    for (const extra of [[], ['-f', `${chart}values-gpu.yaml`]]) {
      const out = execFileSync('helm', ['template', 'distgan', chart, ...extra], {
        encoding: 'utf8',
      });
      const docs = parseAllDocuments(out)
        .map((d) => d.toJSON() as K8sObject)
        .filter(Boolean);
      assert.ok(docs.length >= 8);
      for (const d of docs) await validate(d);
    }
  });
});
