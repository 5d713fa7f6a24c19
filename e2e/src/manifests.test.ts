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
import { SERVER_SETTINGS } from '@distgan/server';
import { DEVICE_SETTINGS } from '@distgan/device';

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
    const known = new Set([
      ...Object.keys(SERVER_SETTINGS),
      ...Object.keys(DEVICE_SETTINGS),
      'TFJS_BACKEND',
    ]);
    for (const key of Object.keys(cm.data ?? {}))
      assert.ok(known.has(key), `${key} is read by no service`);
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
        .filter((n) => n !== 'RABBITMQ_PASSWORD' && n !== 'REDIS_PASSWORD') // bundled brokers only
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
  // What helm and kustomize are expected to differ in: labels (helm's chart and version labels),
  // the pod annotations (the config checksum) and the namespace (kustomize's overlays set it).
  const comparable = (o: K8sObject): K8sObject => {
    const c = structuredClone(o) as K8sObject & {
      metadata: { labels?: unknown };
      spec?: { template?: { metadata?: { labels?: unknown; annotations?: unknown } } };
    };
    delete c.metadata.labels;
    delete c.metadata.namespace;
    delete c.spec?.template?.metadata?.labels;
    delete c.spec?.template?.metadata?.annotations;
    return c;
  };
  type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } };
  const envOf = (o: K8sObject): Env[] => (containersOf(o)[0]?.env ?? []) as Env[];
  const podSpec = (o: K8sObject): Record<string, unknown> =>
    (o.spec?.['template'] as { spec: Record<string, unknown> }).spec;
  const always = [...DEPLOYMENT_KINDS, 'ServiceAccount'];

  it('the default values: every document validates, and the objects are those of k8s/base', async () => {
    const { docs } = render();
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

  it('values-gpu.yaml: a GPU per device, GPU nodes and their taint, PodMonitor and dashboard', async () => {
    const { docs } = render('-f', `${chart}values-gpu.yaml`);
    for (const d of docs) await validate(d);
    const kinds = kindsOf(docs);
    for (const k of [...always, 'PodMonitor']) assert.ok(kinds.has(k), `a ${k} is rendered`);
    const gpu = parse(readFileSync(`${chart}values-gpu.yaml`, 'utf8')) as {
      devices: { nodeSelector: unknown; tolerations: unknown };
    };
    const sts = find(docs, 'StatefulSet', 'distgan-device');
    const [c] = containersOf(sts);
    assert.equal(c!.resources?.limits?.['nvidia.com/gpu'], 1);
    assert.deepEqual(podSpec(sts)['nodeSelector'], gpu.devices.nodeSelector);
    assert.deepEqual(podSpec(sts)['tolerations'], gpu.devices.tolerations);
    assert.match(JSON.stringify(sts), /distgan-device:[^"]*-gpu/);
    assert.equal(podSpec(find(docs, 'Deployment', 'distgan-server'))['nodeSelector'], undefined);
    const dash = find(docs, 'ConfigMap', 'distgan-dashboard');
    assert.equal(
      JSON.parse(dash.data?.['distgan.json'] ?? '{}').uid,
      'distgan',
      'the dashboard, from .Files',
    );
    const overlay = kustomize('k8s/overlays/gpu');
    const k8sSts = overlay.find((o) => o.kind === 'StatefulSet')!;
    assert.deepEqual(
      comparable(sts),
      comparable(k8sSts),
      'the device StatefulSet as in k8s/overlays/gpu',
    );
    const [cm, k8sCm] = [
      find(docs, 'ConfigMap', 'distgan-run'),
      overlay.find((o) => o.kind === 'ConfigMap')!,
    ];
    for (const key of ['MODEL', 'TFJS_BACKEND', 'NUM_DEVICES'])
      assert.equal(cm.data?.[key], k8sCm.data?.[key], `${key} as in k8s/overlays/gpu`);
  });

  it('bundled brokers: credentials from the Bitnami charts\u2019 Secrets (their templates are not rendered)', async () => {
    const { docs, err } = render('--set', 'rabbitmq.enabled=true,redis.enabled=true');
    for (const d of docs) await validate(d);
    assert.match(err, /dependency rabbitmq is enabled: its templates are not rendered/);
    for (const o of [
      find(docs, 'Deployment', 'distgan-server'),
      find(docs, 'StatefulSet', 'distgan-device'),
    ]) {
      const env = envOf(o);
      const names = env.map((e) => e.name);
      assert.deepEqual(
        names.filter((n) => /RABBITMQ|REDIS/.test(n)),
        ['RABBITMQ_PASSWORD', 'RABBITMQ_URL', 'REDIS_PASSWORD', 'REDIS_URL'],
        `${o.metadata.name}: each password before the URL that refers to it`,
      );
      const value = (n: string): string | undefined => env.find((e) => e.name === n)?.value;
      assert.equal(
        value('RABBITMQ_URL'),
        'amqp://distgan:$(RABBITMQ_PASSWORD)@distgan-rabbitmq:5672',
      );
      assert.equal(value('REDIS_URL'), 'redis://:$(REDIS_PASSWORD)@distgan-redis-master:6379');
    }
    // Bitnami's names: a release whose name holds the chart's name, and fullnameOverride.
    const named = spawnSync(
      bin,
      [
        'my-rabbitmq',
        chart,
        '--set',
        'rabbitmq.enabled=true,redis.enabled=true',
        '--set',
        'redis.fullnameOverride=cache',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(named.status, 0, named.stderr);
    const namedEnv = envOf(
      find(
        parseAllDocuments(named.stdout).map((d) => d.toJSON() as K8sObject),
        'Deployment',
        'my-rabbitmq-distgan-server',
      ),
    );
    const secretOf = (n: string): string | undefined =>
      namedEnv.find((e) => e.name === n)?.valueFrom?.secretKeyRef?.name;
    assert.equal(secretOf('RABBITMQ_PASSWORD'), 'my-rabbitmq');
    assert.equal(
      namedEnv.find((e) => e.name === 'RABBITMQ_URL')?.value,
      'amqp://distgan:$(RABBITMQ_PASSWORD)@my-rabbitmq:5672',
    );
    assert.equal(secretOf('REDIS_PASSWORD'), 'cache');
    assert.equal(
      namedEnv.find((e) => e.name === 'REDIS_URL')?.value,
      'redis://:$(REDIS_PASSWORD)@cache-master:6379',
    );

    const noAuth = render('--set', 'redis.enabled=true', '--set', 'redis.auth.enabled=false').docs;
    const env = envOf(find(noAuth, 'Deployment', 'distgan-server'));
    assert.ok(!env.some((e) => e.name === 'REDIS_PASSWORD'));
    assert.equal(
      env.find((e) => e.name === 'REDIS_URL')?.value,
      'redis://distgan-redis-master:6379',
    );
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
      'networkPolicy.prometheusNamespaceSelector.team=obs',
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
});
