import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse } from 'yaml';
import { parseValue, type Setting } from '@distgan/protocol';
import { DATA_SETTINGS, TRAINING_SETTINGS } from '@distgan/run';
import { SERVER_SETTINGS } from '@distgan/server';
import { DEVICE_SETTINGS, loadDeviceConfig } from '@distgan/device';
import { CHART_README, readmeWithTable, schemaLeaves } from './chart-readme.js';

/*
 * The deployment, checked offline: every manifest kustomize builds from k8s/ validates against
 * the Kubernetes API schemas (kubernetes-models); the chart's values schema accepts the shipped
 * values files and refuses bad ones; the chart and k8s/ describe the same objects; the chart's
 * templates, rendered by e2e/chart-render (helm's template engine: Go's text/template, sprig and
 * helm's functions, built from Debian's packages; not helm itself) with the default, the GPU and
 * other values, give documents that validate and equal k8s/'s objects; and, where helm is on the
 * PATH, helm lints the chart and every document it renders validates too.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const chart = `${root}charts/distgan/`;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
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
  ((o.kind === 'Pod'
    ? (o.spec as { containers: Container[] } | undefined)?.containers
    : (o.spec?.['template'] as { spec: { containers: Container[] } } | undefined)?.spec
        .containers) ?? []) as Container[];

/** The kinds both k8s/ and the chart (with its default values) always contain. */
const DEPLOYMENT_KINDS = [
  'Deployment',
  'StatefulSet',
  'Service',
  'ConfigMap',
  'PodDisruptionBudget',
  'NetworkPolicy',
];

describe('k8s/ (kustomize)', () => {
  for (const dir of ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/gpu']) {
    it(`${dir}: every object validates against the Kubernetes API schemas`, async () => {
      const objects = kustomize(dir);
      assert.ok(objects.length >= 8, `${objects.length} objects`);
      for (const o of objects) await validate(o);
      const kinds = new Set(objects.map((o) => o.kind));
      for (const k of DEPLOYMENT_KINDS) assert.ok(kinds.has(k), `${dir} has a ${k}`);
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

  it("dev: the NetworkPolicy selects the server and the devices, not the overlay's brokers", () => {
    const objects = kustomize('k8s/overlays/dev');
    const np = objects.find((o) => o.kind === 'NetworkPolicy')!;
    const selector: Record<string, string> =
      (np.spec?.['podSelector'] as { matchLabels?: Record<string, string> }).matchLabels ?? {};
    assert.ok(Object.keys(selector).length > 0, 'a podSelector with labels');
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      const labels = (o.spec?.['template'] as { metadata: { labels: Record<string, string> } })
        .metadata.labels;
      const selected: boolean = Object.entries(selector).every(([k, v]) => labels[k] === v);
      assert.equal(selected, o.metadata.name.startsWith('distgan-'), `${o.metadata.name} selected`);
    }
  });

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
    const known = new Set([...Object.keys(SERVER_SETTINGS), ...Object.keys(DEVICE_SETTINGS)]);
    for (const key of Object.keys(cm.data ?? {}))
      assert.ok(known.has(key), `${key} is read by no service`);
  });

  it("the run ConfigMap carries every data, model and training setting, at the services' defaults", () => {
    // Every setting that all processes of a run share is in the ConfigMap (so an operator can set
    // each one in the chart's values), and the ConfigMap trains the services' default run.
    const cm = kustomize('k8s/base').find((o) => o.kind === 'ConfigMap')!;
    const data = (cm.data ?? {}) as Record<string, string>;
    const keys = [...Object.keys(DATA_SETTINGS), ...Object.keys(TRAINING_SETTINGS)];
    for (const key of keys) {
      assert.ok(key in data, `${key} is in the ConfigMap`);
      const s = SERVER_SETTINGS[key as keyof typeof SERVER_SETTINGS] as Setting;
      assert.equal(String(parseValue(s, data[key]!)), String(s.default), key);
    }
  });

  it('the gpu overlay: tensorflow-gpu on the devices only, in a Namespace of its own, the run folder on a volume (#19 items 2, 7)', () => {
    const objects = kustomize('k8s/overlays/gpu');
    const ns = objects.find((o) => o.kind === 'Namespace');
    assert.ok(ns, 'the overlay creates its Namespace');
    for (const o of objects.filter((x) => x.kind !== 'Namespace'))
      assert.equal(o.metadata.namespace, ns.metadata.name, `${o.kind}/${o.metadata.name}`);
    for (const o of objects.filter((x) => x.kind === 'ConfigMap'))
      assert.ok(!('TFJS_BACKEND' in (o.data ?? {})), `${o.metadata.name}: no shared backend`);
    const backendOf = (kind: string): unknown =>
      (
        containersOf(objects.find((o) => o.kind === kind)!)[0]!.env as {
          name: string;
          value?: string;
        }[]
      ).find((e) => e.name === 'TFJS_BACKEND')?.value;
    assert.equal(backendOf('StatefulSet'), 'tensorflow-gpu');
    assert.equal(backendOf('Deployment'), '');
    const server = objects.find((o) => o.kind === 'Deployment')!;
    const data = (
      server.spec?.['template'] as {
        spec: { volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[] };
      }
    ).spec.volumes.find((v) => v.name === 'data');
    assert.equal(data?.persistentVolumeClaim?.claimName, 'distgan-server');
    assert.ok(
      objects.some(
        (o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'distgan-server',
      ),
    );
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
      ['a digest that is not offered', { run: { blobDigest: 'md5' } }],
      // #19 item 6: nonsense the schema used to accept.
      ['a toleration that is a number', { devices: { tolerations: [1] } }],
      [
        'a toleration with an unknown effect',
        { devices: { tolerations: [{ key: 'a', effect: 'Never' }] } },
      ],
      ['a cpu of "abc"', { devices: { resources: { requests: { cpu: 'abc' } } } }],
      ['a memory of "2 GB"', { server: { resources: { limits: { memory: '2 GB' } } } }],
      ['a nodeSelector value that is a number', { devices: { nodeSelector: { gpu: 1 } } }],
      ['a volume without a source', { devices: { extraVolumes: [{ name: 'data' }] } }],
      ['a mount without a path', { devices: { extraVolumeMounts: [{ name: 'data' }] } }],
      ['a digest that is a tag', { devices: { gpuDigest: 'latest' } }],
      ['a persistence size of "big"', { server: { persistence: { size: 'big' } } }],
      ['the GPU backend on the server', { server: { backend: 'tensorflow-gpu' } }],
      ['the old shared backend', { run: { backend: 'cpu' } }],
      ['a broker port out of range', { networkPolicy: { brokerPorts: [70000] } }],
      [
        'an unknown selector key',
        { networkPolicy: { metrics: { namespaceSelector: { team: 'obs' } } } },
      ],
      ['a runtime class with capitals', { devices: { runtimeClassName: 'NVIDIA' } }],
    ];
    for (const [what, patch] of bad)
      assert.equal(check(withValues(patch)), false, `accepted ${what}`);
  });

  it('values.schema.json accepts the conventions an operator uses (#19 item 6)', () => {
    const good: [string, unknown][] = [
      ['fullnameOverride and nameOverride', { fullnameOverride: 'gan', nameOverride: 'g' }],
      [
        'pod annotations and labels',
        { devices: { podAnnotations: { a: 'b' }, podLabels: { team: 'ml' } } },
      ],
      ['a runtime class', { devices: { runtimeClassName: 'nvidia' } }],
      [
        'a pod security context',
        {
          server: {
            podSecurityContext: { runAsUser: 2000, fsGroupChangePolicy: 'OnRootMismatch' },
          },
        },
      ],
      [
        'the data of run.dataDir on a volume',
        {
          run: { dataset: 'cifar10', dataDir: '/datasets/cifar10' },
          devices: {
            extraVolumes: [{ name: 'datasets', persistentVolumeClaim: { claimName: 'datasets' } }],
            extraVolumeMounts: [{ name: 'datasets', mountPath: '/datasets', readOnly: true }],
          },
        },
      ],
      [
        'quantities as Kubernetes writes them',
        {
          devices: {
            resources: {
              requests: { cpu: 0.5, memory: '1.5Gi', 'ephemeral-storage': '10G' },
              limits: { 'nvidia.com/gpu': 1 },
            },
          },
        },
      ],
      [
        'a toleration',
        {
          devices: {
            tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
          },
        },
      ],
      ['a digest', { devices: { gpuDigest: `sha256:${'a'.repeat(64)}` } }],
      ['a MIG profile', { devices: { gpu: { resourceName: 'nvidia.com/mig-1g.10gb' } } }],
      ['every namespace may scrape', { networkPolicy: { metrics: { namespaceSelector: {} } } }],
    ];
    for (const [what, patch] of good)
      assert.ok(check(withValues(patch)), `refused ${what}: ${ajv.errorsText(check.errors)}`);
  });

  it('README.md: its values table is generated from values.schema.json, every value described (#19)', () => {
    for (const [path, node] of schemaLeaves())
      assert.ok(node.description, `${path} has no description in values.schema.json`);
    const readme = readFileSync(CHART_README, 'utf8');
    assert.equal(readme, readmeWithTable(readme), 'README.md: run npm run docs:chart');
    // Every value of values.yaml is in the table.
    const leaves = new Set(schemaLeaves().map(([p]) => p));
    const walk = (prefix: string, v: unknown): void => {
      if (leaves.has(prefix)) return;
      assert.ok(
        v && typeof v === 'object' && !Array.isArray(v),
        `values.yaml ${prefix} is not in the table`,
      );
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    };
    walk('', defaults);
    for (const section of [
      '## Install',
      '## Upgrade',
      '## Uninstall',
      '## GPUs',
      '## Monitoring',
      '## Values',
    ])
      assert.ok(readme.includes(section), `README.md has ${section}`);
    assert.match(readme, /kubectl scale statefulset\/distgan-device/);
    assert.match(readme, /helm upgrade .*--set devices\.replicas=\d/);
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
      const probes = [
        (c as { startupProbe?: { httpGet?: { path: string } } }).startupProbe?.httpGet?.path,
        c!.readinessProbe?.httpGet?.path,
        c!.livenessProbe?.httpGet?.path,
      ];
      const chartProbes = [...tpl.matchAll(/^\s+path: (\/[a-z]+)$/gm)].map((m) => m[1]);
      assert.deepEqual(chartProbes, probes, `${o.metadata.name} probes`);
      const env = (c!.env ?? []).map((e) => e.name).sort();
      const chartEnv = [...`${tpl}\n${helpers}`.matchAll(/- name: ([A-Z_]+)$/gm)]
        .map((m) => m[1]!)
        // In-release brokers, a password apart from its URL, GPUs only.
        .filter(
          (n) =>
            !/^(RABBITMQ_PASSWORD|REDIS_PASSWORD|TF_FORCE_GPU_ALLOW_GROWTH|CUDA_CACHE_\w+)$/.test(
              n,
            ),
        )
        .sort();
      assert.deepEqual([...new Set(chartEnv)], env, `${o.metadata.name} environment`);
    }
  });

  it('renders documents that validate, with the default and the GPU values (needs helm)', async (t) => {
    if (spawnSync('helm', ['version'], { stdio: 'ignore' }).status !== 0) {
      console.log(
        "helm is not on the PATH: helm lint and helm template were not run; the templates are rendered by chart-render (helm's template engine, not helm) in the suite below",
      );
      t.skip('helm is not on the PATH: the chart was not linted nor rendered by helm');
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

/*
 * The chart rendered here without helm: e2e/chart-render is helm's template engine (Go's
 * text/template, sprig and helm's own functions: include, tpl, required, toYaml, ...), built from
 * Debian's packages by e2e/chart-render/install.sh. It is not helm: no lint, no dependency fetch
 * (the bundled brokers' subcharts are not rendered), no schema check (ajv checks the schema
 * above). Without the binary and without Go to build it, these tests fail: they do not skip.
 */
describe('charts/distgan rendered by chart-render (helm template engine, not helm)', () => {
  const dir = `${root}e2e/chart-render/`;
  const bin = `${dir}bin/chart-render`;
  let built = false;
  const ensureBuilt = (): void => {
    if (built) return;
    const stale =
      !existsSync(bin) ||
      ['main.go', 'go.mod'].some((f) => statSync(`${dir}${f}`).mtimeMs > statSync(bin).mtimeMs);
    if (stale) {
      assert.equal(
        spawnSync('go', ['version'], { stdio: 'ignore' }).status,
        0,
        `the chart was not rendered: ${existsSync(bin) ? 'e2e/chart-render/bin/chart-render is older than its source' : 'e2e/chart-render/bin/chart-render is not built'} and Go is not on the PATH; run bash e2e/chart-render/install.sh (it installs Debian's golang-go, sprig and sigs.k8s.io/yaml packages and builds it)`,
      );
      execFileSync('bash', [`${dir}install.sh`, '--build-only'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
    built = true;
  };
  const run = (
    args: string[],
    chartDir = chart,
  ): { status: number | null; out: string; err: string } => {
    ensureBuilt();
    const r = spawnSync(bin, ['distgan', chartDir, ...args], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
  const render = (...args: string[]): { docs: K8sObject[]; err: string } => {
    const r = run(args);
    assert.equal(r.status, 0, `chart-render ${args.join(' ')} failed:\n${r.err}`);
    const docs = parseAllDocuments(r.out)
      .map((d) => d.toJSON() as K8sObject | null)
      .filter((d): d is K8sObject => d !== null);
    return { docs, err: r.err };
  };
  const find = (docs: K8sObject[], kind: string, name: string): K8sObject => {
    const o = docs.find((d) => d.kind === kind && d.metadata.name === name);
    assert.ok(o, `${kind}/${name} is rendered`);
    return o;
  };
  const kindsOf = (docs: K8sObject[]): Set<string> => new Set(docs.map((d) => d.kind));
  /** A values file with `values`, for what --set cannot write (lists, keys with dots). */
  const writeValues = (values: unknown): string => {
    const file = `${mkdtempSync(`${tmpdir()}/distgan-values-`)}/values.yaml`;
    writeFileSync(file, JSON.stringify(values));
    return file;
  };
  // What helm and kustomize are expected to differ in: labels (helm's chart and version labels),
  // the pod annotations (the config checksum) and the namespace (kustomize's overlays set it).
  // And the order of environment variables, volumes and mounts, which kustomize's patches
  // change and which carries no meaning here (no variable refers to another with $(VAR)).
  const comparable = (o: K8sObject): K8sObject => {
    const c = structuredClone(o) as K8sObject & {
      metadata: { labels?: unknown };
      spec?: {
        template?: {
          metadata?: { labels?: unknown; annotations?: unknown };
          spec?: { volumes?: { name: string }[]; containers?: Record<string, unknown>[] };
        };
      };
    };
    delete c.metadata.labels;
    delete c.metadata.namespace;
    delete c.spec?.template?.metadata?.labels;
    delete c.spec?.template?.metadata?.annotations;
    const byName = (a: { name: string }, b: { name: string }): number =>
      a.name.localeCompare(b.name);
    c.spec?.template?.spec?.volumes?.sort(byName);
    for (const k of c.spec?.template?.spec?.containers ?? []) {
      (k['env'] as { name: string }[] | undefined)?.sort(byName);
      (k['volumeMounts'] as { name: string }[] | undefined)?.sort(byName);
    }
    return c;
  };
  /** helm's hooks (the helm test pod): not installed with the release, not in k8s/. */
  const isHook = (o: K8sObject): boolean =>
    Boolean((o.metadata as { annotations?: Record<string, string> }).annotations?.['helm.sh/hook']);
  type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } };
  const envOf = (o: K8sObject): Env[] => (containersOf(o)[0]?.env ?? []) as Env[];
  const podSpec = (o: K8sObject): Record<string, unknown> =>
    (o.spec?.['template'] as { spec: Record<string, unknown> }).spec;
  const always = [...DEPLOYMENT_KINDS, 'ServiceAccount'];

  it('the default values: every document validates, and the objects are those of k8s/base', async () => {
    const all = render().docs;
    for (const d of all) await validate(d);
    const docs = all.filter((d) => !isHook(d));
    for (const d of docs) await validate(d);
    const kinds = kindsOf(docs);
    for (const k of always) assert.ok(kinds.has(k), `a ${k} is rendered`);
    assert.ok(!kinds.has('PodMonitor'), 'no PodMonitor by default');
    assert.ok(!docs.some((d) => d.metadata.name === 'distgan-dashboard'), 'no dashboard');
    const base = kustomize('k8s/base');
    assert.deepEqual(
      docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(),
      base.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
      'the same objects as k8s/base',
    );
    for (const o of base) {
      const r = find(docs, o.kind, o.metadata.name);
      if (o.kind === 'NetworkPolicy') {
        assert.deepEqual(r.spec, o.spec, 'NetworkPolicy: the same pods and rules as k8s/base');
        continue;
      }
      // Names, ports, probes, environment, resources, security contexts, volumes: all of it.
      assert.deepEqual(comparable(r), comparable(o), `${o.kind}/${o.metadata.name} as in k8s/base`);
    }
    const server = find(docs, 'Deployment', 'distgan-server');
    const url = envOf(server).find((e) => e.name === 'RABBITMQ_URL');
    assert.equal(url?.valueFrom?.secretKeyRef?.name, 'distgan-rabbitmq', 'external RabbitMQ');
  });

  it('values-gpu.yaml: a GPU per device, the GPU nodes\u2019 taint, the run folder on a volume, dashboard; the objects of k8s/overlays/gpu', async () => {
    const all = render(
      '-f',
      `${chart}values-gpu.yaml`,
      '--api-versions',
      'monitoring.coreos.com/v1/PodMonitor',
    ).docs;
    for (const d of all) await validate(d);
    const docs = all.filter((d) => !isHook(d));
    const kinds = kindsOf(docs);
    for (const k of [...always, 'PodMonitor', 'PersistentVolumeClaim'])
      assert.ok(kinds.has(k), `a ${k} is rendered`);
    const gpu = parse(readFileSync(`${chart}values-gpu.yaml`, 'utf8')) as {
      devices: { tolerations: unknown };
    };
    const sts = find(docs, 'StatefulSet', 'distgan-device');
    const [c] = containersOf(sts);
    assert.equal(c!.resources?.limits?.['nvidia.com/gpu'], 1);
    assert.deepEqual(podSpec(sts)['tolerations'], gpu.devices.tolerations);
    assert.match(JSON.stringify(sts), /distgan-device:[^"]*-gpu/);
    assert.equal(podSpec(find(docs, 'Deployment', 'distgan-server'))['nodeSelector'], undefined);
    const dash = find(docs, 'ConfigMap', 'distgan-dashboard');
    assert.equal(
      JSON.parse(dash.data?.['distgan.json'] ?? '{}').uid,
      'distgan',
      'the dashboard, from .Files',
    );
    // Everything k8s/overlays/gpu has is the chart's, equal.
    const overlay = kustomize('k8s/overlays/gpu');
    for (const o of overlay.filter((x) => x.kind !== 'Namespace')) {
      const r = find(docs, o.kind, o.metadata.name);
      if (o.kind === 'ConfigMap' || o.kind === 'NetworkPolicy' || o.kind === 'ServiceAccount') {
        assert.deepEqual(
          r.data ?? r.spec,
          o.data ?? o.spec,
          `${o.kind}/${o.metadata.name} as in k8s/overlays/gpu`,
        );
        continue;
      }
      assert.deepEqual(
        comparable(r),
        comparable(o),
        `${o.kind}/${o.metadata.name} as in k8s/overlays/gpu`,
      );
    }
  });

  it('in-release brokers: single-node RabbitMQ and Redis StatefulSets on the official images; passwords apart from the URLs (#19 item 1)', async () => {
    const password = 'p@ss/w:rd#1%41';
    const { docs } = render(
      '--set',
      'rabbitmq.enabled=true,redis.enabled=true',
      '--set-string',
      `rabbitmq.auth.password=${password}`,
    );
    for (const d of docs) await validate(d);
    const rabbit = find(docs, 'StatefulSet', 'distgan-rabbitmq');
    const redis = find(docs, 'StatefulSet', 'distgan-redis');
    assert.match(
      String(containersOf(rabbit)[0]!['image' as keyof Container]),
      /^rabbitmq:4[.\d]*-management/,
    );
    assert.match(
      String(containersOf(redis)[0]!['image' as keyof Container]),
      /^redis:7[.\d]*-alpine$/,
    );
    find(docs, 'Service', 'distgan-rabbitmq');
    find(docs, 'Service', 'distgan-redis');
    // The brokers are not the NetworkPolicy's pods: its rules would close their ports.
    const np = find(docs, 'NetworkPolicy', 'distgan');
    const selector = (np.spec?.['podSelector'] as { matchLabels: Record<string, string> })
      .matchLabels;
    for (const o of [rabbit, redis]) {
      const labels = (o.spec?.['template'] as { metadata: { labels: Record<string, string> } })
        .metadata.labels;
      assert.ok(
        !Object.entries(selector).every(([k, v]) => labels[k] === v),
        `${o.metadata.name} is not selected`,
      );
    }
    // What a device makes of its environment: the password survives, encoded into the URL.
    const secrets = new Map(
      docs.filter((d) => d.kind === 'Secret').map((d) => [d.metadata.name, d.data ?? {}] as const),
    );
    const cm = find(docs, 'ConfigMap', 'distgan-run').data ?? {};
    type FullEnv = Env & { valueFrom?: { secretKeyRef?: { name: string; key: string } } };
    const envFor = (o: K8sObject): Record<string, string> => {
      const out: Record<string, string> = { ...cm, DEVICE_INDEX: '0' };
      for (const e of envOf(o) as FullEnv[]) {
        assert.ok(!String(e.value ?? '').includes('$('), `${e.name}: no $(VAR) in a URL`);
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) {
          const data = secrets.get(ref.name);
          assert.ok(data?.[ref.key], `${e.name}: Secret ${ref.name} key ${ref.key} is rendered`);
          out[e.name] = Buffer.from(data[ref.key]!, 'base64').toString('utf8');
        } else if (e.value !== undefined) out[e.name] = e.value;
      }
      return out;
    };
    const device = loadDeviceConfig(envFor(find(docs, 'StatefulSet', 'distgan-device')));
    const amqp = new URL(device.rabbitmqUrl);
    assert.equal(amqp.hostname, 'distgan-rabbitmq');
    assert.equal(amqp.username, 'distgan');
    assert.equal(unescape(amqp.password), password, 'as amqplib decodes it');
    const redisUrl = new URL(device.redisUrl);
    assert.equal(redisUrl.hostname, 'distgan-redis');
    assert.equal(decodeURIComponent(redisUrl.password).length, 32, 'a random password');
    // The broker gets the same password.
    const rabbitEnv = envOf(rabbit) as FullEnv[];
    assert.deepEqual(
      rabbitEnv.find((e) => e.name === 'RABBITMQ_DEFAULT_PASS')?.valueFrom?.secretKeyRef,
      { name: 'distgan-rabbitmq-auth', key: 'password' },
    );

    // An external broker whose password is kept apart from its URL.
    const ext = render(
      '--set',
      'rabbitmq.external.passwordKey=password,redis.external.passwordKey=pw',
    ).docs;
    const env = envOf(find(ext, 'Deployment', 'distgan-server')) as FullEnv[];
    assert.deepEqual(
      env
        .filter((e) => /RABBITMQ|REDIS/.test(e.name))
        .map((e) => [e.name, e.valueFrom?.secretKeyRef]),
      [
        ['RABBITMQ_URL', { name: 'distgan-rabbitmq', key: 'url' }],
        ['RABBITMQ_PASSWORD', { name: 'distgan-rabbitmq', key: 'password' }],
        ['REDIS_URL', { name: 'distgan-redis', key: 'url' }],
        ['REDIS_PASSWORD', { name: 'distgan-redis', key: 'pw' }],
      ],
    );
    // Secrets of one's own for the in-release brokers: the chart makes none.
    const own = render('--set', 'rabbitmq.enabled=true,rabbitmq.auth.existingSecret=mine').docs;
    assert.ok(!own.some((d) => d.kind === 'Secret'));
    assert.equal(
      (envOf(find(own, 'Deployment', 'distgan-server')) as FullEnv[]).find(
        (e) => e.name === 'RABBITMQ_PASSWORD',
      )?.valueFrom?.secretKeyRef?.name,
      'mine',
    );
  });

  it('no subcharts: helm installs the chart as it is, with no dependency to fetch (#19 item 1)', () => {
    const meta = parse(readFileSync(`${chart}Chart.yaml`, 'utf8')) as { dependencies?: unknown[] };
    assert.equal(meta.dependencies, undefined, 'Chart.yaml declares no dependencies');
    const r = run(['--set', 'rabbitmq.enabled=true,redis.enabled=true']);
    assert.equal(r.status, 0, r.err);
    assert.ok(!/dependency .* is enabled/.test(r.err), r.err);
    assert.ok(!/bitnami/i.test(r.out), 'no Bitnami image or chart');
  });

  it('the other switches: persistence, no service account, no NetworkPolicy or PDB, another release', async () => {
    const { docs } = render(
      '--set',
      'server.persistence.enabled=true,server.persistence.storageClass=fast',
      '--set',
      'serviceAccount.create=false,networkPolicy.enabled=false',
      '--set',
      'devices.podDisruptionBudget.enabled=false,metrics.annotations=false',
      '--set',
      'networkPolicy.metrics.namespaceSelector.matchLabels.team=obs',
    );
    for (const d of docs) await validate(d);
    const kinds = kindsOf(docs);
    for (const k of ['ServiceAccount', 'NetworkPolicy', 'PodDisruptionBudget'])
      assert.ok(!kinds.has(k), `no ${k}`);
    const pvc = find(docs, 'PersistentVolumeClaim', 'distgan-server');
    assert.equal(pvc.spec?.['storageClassName'], 'fast');
    const server = find(docs, 'Deployment', 'distgan-server');
    assert.equal(podSpec(server)['serviceAccountName'], 'default');
    assert.deepEqual(podSpec(server)['volumes'], [
      { name: 'data', persistentVolumeClaim: { claimName: 'distgan-server' } },
      { name: 'tmp', emptyDir: {} },
    ]);
    assert.ok(!JSON.stringify(server).includes('prometheus.io/scrape'));

    const r = spawnSync(bin, ['exp-7', chart, '--namespace', 'gan'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const names = parseAllDocuments(r.stdout).map((d) => (d.toJSON() as K8sObject).metadata.name);
    assert.ok(names.includes('exp-7-distgan-server'), names.join(' '));
  });

  it('NOTES.txt renders, and the renderer refuses a broken template', () => {
    const notes = run(['--notes', '-f', `${chart}values-gpu.yaml`]);
    assert.equal(notes.status, 0, notes.err);
    assert.match(notes.out, /^NOTES:\n.*8 devices with 1 GPU each/m);
    assert.match(notes.out, /port-forward svc\/distgan-server 8080/);
    assert.ok(!notes.out.includes('<no value>'));

    const tmp = mkdtempSync(`${tmpdir()}/distgan-chart-`);
    try {
      cpSync(chart, tmp, { recursive: true });
      const cm = `${tmp}/templates/configmap.yaml`;
      const good = readFileSync(cm, 'utf8');
      for (const [broken, why] of [
        [`${good}{{- if .Values.run.id }}\n`, /configmap\.yaml.*unexpected EOF/],
        [
          `${good}  X: {{ required "run.nope is required" .Values.run.nope }}\n`,
          /run\.nope is required/,
        ],
        [`${good}  X: {{ env "HOME" }}\n`, /function "env" not defined/],
        [`${good}  - X: [\n`, /YAML parse error on distgan\/templates\/configmap\.yaml/],
      ] as const) {
        writeFileSync(cm, broken);
        const r = run([], tmp);
        assert.notEqual(r.status, 0, `accepted ${broken.slice(good.length)}`);
        assert.match(r.err, why);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  /* #19: the chart as a cluster operator deploys it. Each test names the item it checks. */
  type Probe = {
    httpGet?: { path: string };
    periodSeconds?: number;
    failureThreshold?: number;
    initialDelaySeconds?: number;
  };
  type FullContainer = Container & {
    image: string;
    startupProbe?: Probe;
    livenessProbe?: Probe;
    env?: Env[];
    volumeMounts?: { name: string; mountPath: string }[];
  };
  const containerOf = (o: K8sObject): FullContainer => containersOf(o)[0] as FullContainer;
  const envValue = (o: K8sObject, name: string): string | undefined =>
    envOf(o).find((e) => e.name === name)?.value;
  const annotationsOf = (o: K8sObject): Record<string, string> =>
    (o.spec?.['template'] as { metadata: { annotations?: Record<string, string> } }).metadata
      .annotations ?? {};
  const refused = (args: string[], why: RegExp): void => {
    const r = run(args);
    assert.notEqual(r.status, 0, `rendered with ${args.join(' ')}`);
    assert.match(r.err, why);
  };

  it('item 2: the backend is each workload\u2019s; tensorflow-gpu on the devices only', () => {
    for (const args of [[], ['-f', `${chart}values-gpu.yaml`]]) {
      const { docs } = render(...args);
      const cm = find(docs, 'ConfigMap', 'distgan-run');
      assert.ok(!('TFJS_BACKEND' in (cm.data ?? {})), 'the shared ConfigMap holds no backend');
      assert.equal(envValue(find(docs, 'Deployment', 'distgan-server'), 'TFJS_BACKEND'), '');
    }
    const gpu = render('-f', `${chart}values-gpu.yaml`).docs;
    assert.equal(
      envValue(find(gpu, 'StatefulSet', 'distgan-device'), 'TFJS_BACKEND'),
      'tensorflow-gpu',
    );
    const cpu = render('--set', 'devices.backend=wasm,server.backend=cpu').docs;
    assert.equal(envValue(find(cpu, 'StatefulSet', 'distgan-device'), 'TFJS_BACKEND'), 'wasm');
    assert.equal(envValue(find(cpu, 'Deployment', 'distgan-server'), 'TFJS_BACKEND'), 'cpu');
  });

  it('item 3: GPU scheduling without the GPU Operator\u2019s labels; runtime class, memory growth, CUDA cache, startup probe', () => {
    const { docs } = render('-f', `${chart}values-gpu.yaml`);
    const sts = find(docs, 'StatefulSet', 'distgan-device');
    assert.equal(podSpec(sts)['nodeSelector'], undefined, 'the GPU limit alone schedules it');
    assert.ok(!JSON.stringify(docs).includes('gpu.present'));
    const c = containerOf(sts);
    assert.equal(envValue(sts, 'TF_FORCE_GPU_ALLOW_GROWTH'), 'true');
    const cache = envValue(sts, 'CUDA_CACHE_PATH');
    assert.ok(cache, 'CUDA_CACHE_PATH is set');
    const mount = c.volumeMounts?.find((m) => m.mountPath === cache);
    assert.ok(mount, `${cache} is a mounted volume (the root file system is read-only)`);
    const volume = (
      podSpec(sts)['volumes'] as { name: string; emptyDir?: { sizeLimit?: string } }[]
    ).find((v) => v.name === mount.name);
    assert.ok(
      volume?.emptyDir?.sizeLimit,
      'an emptyDir with a size limit: it survives container restarts',
    );
    // The startup probe covers a long first start; the liveness probe counts after it.
    assert.equal(c.startupProbe?.httpGet?.path, '/healthz');
    assert.ok(
      (c.startupProbe!.periodSeconds ?? 10) * (c.startupProbe!.failureThreshold ?? 3) >= 600,
      'ten minutes or more to start on a GPU',
    );
    for (const o of [sts, find(docs, 'Deployment', 'distgan-server')]) {
      assert.ok(containerOf(o).startupProbe, `${o.metadata.name} has a startup probe`);
      assert.equal(containerOf(o).livenessProbe?.initialDelaySeconds, undefined);
    }
    const rc = render(
      '-f',
      `${chart}values-gpu.yaml`,
      '--set',
      'devices.runtimeClassName=nvidia',
    ).docs;
    assert.equal(podSpec(find(rc, 'StatefulSet', 'distgan-device'))['runtimeClassName'], 'nvidia');
    assert.equal(podSpec(find(rc, 'Deployment', 'distgan-server'))['runtimeClassName'], undefined);
    // Without a GPU, none of it.
    const plain = find(render().docs, 'StatefulSet', 'distgan-device');
    assert.equal(envValue(plain, 'TF_FORCE_GPU_ALLOW_GROWTH'), undefined);
  });

  it('item 4: the PodMonitor only where its CRD is served, labelled, in the release\u2019s namespace, with no double scraping', () => {
    const without = run(['-f', `${chart}values-gpu.yaml`, '--notes']);
    assert.equal(without.status, 0, without.err);
    assert.ok(!/kind: PodMonitor/.test(without.out), 'no PodMonitor without its CRD');
    assert.match(without.out, /serves no monitoring\.coreos\.com\/v1 PodMonitor: none was created/);
    assert.match(
      without.out,
      /prometheus\.io\/scrape/,
      'the annotations stay when nothing else scrapes',
    );

    const { docs } = render(
      '-f',
      `${chart}values-gpu.yaml`,
      '--namespace',
      'gan',
      '--api-versions',
      'monitoring.coreos.com/v1/PodMonitor',
    );
    const pm = find(docs, 'PodMonitor', 'distgan');
    const labels = (pm.metadata as { labels?: Record<string, string> }).labels ?? {};
    assert.equal(
      labels['release'],
      'kube-prometheus-stack',
      'the label kube-prometheus-stack selects',
    );
    assert.deepEqual(pm.spec?.['namespaceSelector'], { matchNames: ['gan'] });
    for (const o of [
      find(docs, 'StatefulSet', 'distgan-device'),
      find(docs, 'Deployment', 'distgan-server'),
    ])
      assert.ok(!('prometheus.io/scrape' in annotationsOf(o)), `${o.metadata.name}: scraped once`);
  });

  it('item 4: the NetworkPolicy reaches brokers on TLS ports, and its scrapers and egress are configurable', () => {
    type Rule = { ports?: { port: number }[]; to?: unknown[]; from?: Record<string, unknown>[] };
    const np = find(render().docs, 'NetworkPolicy', 'distgan');
    const egressPorts = (np.spec?.['egress'] as Rule[]).flatMap((r) =>
      r.to ? [] : (r.ports ?? []).map((p) => p.port),
    );
    for (const port of [5671, 5672, 6379, 6380])
      assert.ok(egressPorts.includes(port), `egress to ${port}`);
    const custom = find(
      render(
        '--set',
        'networkPolicy.metrics.namespaceSelector.matchLabels.team=obs',
        '-f',
        writeValues({
          networkPolicy: {
            brokerPorts: [15671],
            extraEgress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 9999 }] }],
          },
        }),
      ).docs,
      'NetworkPolicy',
      'distgan',
    );
    const egress = custom.spec?.['egress'] as Rule[];
    assert.ok(egress.some((r) => !r.to && r.ports?.some((p) => p.port === 15671)));
    assert.ok(!egress.some((r) => r.ports?.some((p) => p.port === 5672)));
    assert.ok(
      egress.some((r) => r.ports?.some((p) => p.port === 9999)),
      'extraEgress',
    );
    const from = (custom.spec?.['ingress'] as Rule[])[0]!.from!;
    assert.ok(
      from.some(
        (f) =>
          JSON.stringify(f['namespaceSelector']) ===
            '{"matchLabels":{"kubernetes.io/metadata.name":"monitoring","team":"obs"}}' ||
          JSON.stringify(f['namespaceSelector']) === '{"matchLabels":{"team":"obs"}}',
      ),
      JSON.stringify(from),
    );
    const notes = run(['--notes']);
    assert.match(
      notes.out,
      /NetworkPolicy distgan: \/metrics is open to namespaces .*networkPolicy\.metrics.*ports 5671, 5672, 6379, 6380/,
    );
  });

  it('item 5: devices beyond the shards, a quorum or minimum beyond the devices, devices of a centralized run: refused at render time', () => {
    refused(
      ['--set', 'devices.replicas=5'],
      /devices\.replicas \(5\) is above devices\.shards \(4\)/,
    );
    refused(
      ['-f', `${chart}values-gpu.yaml`, '--set', 'devices.replicas=4'],
      /run\.quorum \(6\) is above devices\.replicas \(4\)/,
    );
    refused(
      ['--set', 'run.minDevices=3,devices.replicas=2'],
      /run\.minDevices \(3\) is above devices\.replicas \(2\)/,
    );
    refused(
      ['--set', 'run.method=centralized'],
      /centralized trains on the server alone: set devices\.replicas=0/,
    );
    // What is allowed: as many devices as shards, none after a run, a centralized run alone.
    for (const args of [
      ['--set', 'devices.replicas=8,devices.shards=8'],
      ['--set', 'devices.replicas=0'],
      ['--set', 'run.method=centralized,devices.replicas=0'],
    ])
      render(...args);
    const notes = run(['--notes', '-f', `${chart}values-gpu.yaml`]).out;
    assert.match(notes, /A removed device .*\n.*its shard is not trained on/);
    assert.match(notes, /exits 0, and the StatefulSet restarts it/);
    assert.match(
      notes,
      /scale statefulset\/distgan-device --replicas=0 +# or: helm uninstall distgan/,
    );
    assert.match(notes, /\/api\/run.*r\.status/, 'how to read the run\u2019s status');
  });

  it('item 6: the documented values render: extraVolumes for the data, pod annotations, security contexts, names', () => {
    const { docs } = render(
      '-f',
      writeValues({
        fullnameOverride: 'gan',
        run: { dataset: 'cifar10', dataDir: '/datasets/cifar10' },
        devices: {
          extraVolumes: [{ name: 'datasets', persistentVolumeClaim: { claimName: 'datasets' } }],
          extraVolumeMounts: [{ name: 'datasets', mountPath: '/datasets', readOnly: true }],
          podAnnotations: { 'example.com/team': 'ml' },
          podLabels: { team: 'ml' },
          podSecurityContext: { runAsNonRoot: true, runAsUser: 2000, fsGroup: 2000 },
          extraEnv: [{ name: 'EXTRA', value: '1' }],
        },
      }),
    );
    const sts = find(docs, 'StatefulSet', 'gan-device');
    assert.ok((podSpec(sts)['volumes'] as { name: string }[]).some((v) => v.name === 'datasets'));
    assert.ok(containerOf(sts).volumeMounts?.some((m) => m.mountPath === '/datasets'));
    assert.equal(annotationsOf(sts)['example.com/team'], 'ml');
    assert.equal((podSpec(sts)['securityContext'] as { runAsUser: number }).runAsUser, 2000);
    assert.equal(envValue(sts, 'EXTRA'), '1');
    find(docs, 'Deployment', 'gan-server');
    const named = render('--set', 'nameOverride=model').docs;
    const labels = (
      find(named, 'Deployment', 'distgan-model-server').metadata as {
        labels: Record<string, string>;
      }
    ).labels;
    assert.equal(labels['app.kubernetes.io/name'], 'model');
    assert.deepEqual(
      (
        find(named, 'NetworkPolicy', 'distgan-model').spec?.['podSelector'] as {
          matchLabels: Record<string, string>;
        }
      ).matchLabels,
      { 'app.kubernetes.io/name': 'model', 'app.kubernetes.io/instance': 'distgan' },
    );
  });

  it('item 7: helm test checks /readyz and the devices; the run folder on a volume in values-gpu.yaml; images by digest', async () => {
    const { docs } = render('-f', `${chart}values-gpu.yaml`);
    const test = docs.find(isHook);
    assert.ok(test, 'a helm test hook');
    await validate(test);
    assert.equal(test.kind, 'Pod');
    assert.equal(
      (test.metadata as { annotations: Record<string, string> }).annotations['helm.sh/hook'],
      'test',
    );
    const script = JSON.stringify(containerOf(test));
    assert.match(script, /\/readyz/);
    assert.match(script, /\/api\/run/);
    assert.equal(envValue(test, 'MIN_DEVICES'), '6');
    assert.equal(envValue(test, 'SERVER'), 'http://distgan-server:8080');
    // The test pod reaches the server through the NetworkPolicy that selects it.
    const np = find(docs, 'NetworkPolicy', 'distgan');
    const testLabels = (test.metadata as { labels: Record<string, string> }).labels;
    const selected = (sel: Record<string, string>): boolean =>
      Object.entries(sel).every(([k, v]) => testLabels[k] === v);
    assert.ok(
      selected((np.spec?.['podSelector'] as { matchLabels: Record<string, string> }).matchLabels),
    );
    assert.ok(
      (
        np.spec?.['egress'] as {
          to?: { podSelector: { matchLabels: Record<string, string> } }[];
          ports: { port: number }[];
        }[]
      ).some(
        (r) =>
          r.to?.some(
            (t) => t.podSelector.matchLabels['app.kubernetes.io/component'] === 'server',
          ) && r.ports.some((p) => p.port === 8080),
      ),
      'egress to the server\u2019s port',
    );

    const server = find(docs, 'Deployment', 'distgan-server');
    const data = (
      podSpec(server)['volumes'] as {
        name: string;
        persistentVolumeClaim?: { claimName: string };
      }[]
    ).find((v) => v.name === 'data');
    assert.equal(
      data?.persistentVolumeClaim?.claimName,
      'distgan-server',
      'the run folder is not an emptyDir',
    );
    const pvc = find(docs, 'PersistentVolumeClaim', 'distgan-server');
    assert.equal(
      (pvc.metadata as { annotations?: Record<string, string> }).annotations?.[
        'helm.sh/resource-policy'
      ],
      'keep',
    );

    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const pinned = render(
      '-f',
      `${chart}values-gpu.yaml`,
      '--set',
      `devices.gpuDigest=${digest},server.digest=${digest}`,
    ).docs;
    assert.equal(
      containerOf(find(pinned, 'StatefulSet', 'distgan-device')).image,
      `ghcr.io/distgan/distgan-device:0.1.0-gpu@${digest}`,
    );
    assert.equal(
      containerOf(find(pinned, 'Deployment', 'distgan-server')).image,
      `ghcr.io/distgan/distgan-server:0.1.0@${digest}`,
    );
    const brokers = render('--set', `rabbitmq.enabled=true,rabbitmq.image.digest=${digest}`).docs;
    assert.equal(
      containerOf(find(brokers, 'StatefulSet', 'distgan-rabbitmq')).image,
      `rabbitmq:4.1-management@${digest}`,
    );
  });
});
