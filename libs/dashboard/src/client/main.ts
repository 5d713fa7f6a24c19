// The dashboard page: a snapshot on every (re)connection, then the server's events. The page
// keeps what it has while the stream is down and replaces it with the next snapshot.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import {
  thinHistory,
  type DashboardEvent,
  type DashboardSnapshot,
  type DeviceRow,
  type RunStatus,
} from '../types.js';

type XMode = 'round' | 'time';
type Connection = 'connecting' | 'live' | 'reconnecting' | 'offline';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const STATUS_TEXT: Record<RunStatus, string> = {
  starting: 'starting',
  'waiting-for-devices': 'waiting for devices',
  training: 'training',
  stopping: 'stopping',
  stopped: 'stopped',
  finished: 'finished',
  failed: 'failed',
};

const ENDED: RunStatus[] = ['finished', 'stopped', 'failed'];

const PHASES = [
  { key: 'broadcastMs', label: 'broadcast', color: '#7c3aed' },
  { key: 'deviceComputeMs', label: 'device compute', color: '#2563eb' },
  { key: 'collectMs', label: 'collect', color: '#0891b2' },
  { key: 'aggregateMs', label: 'aggregate', color: '#d97706' },
  { key: 'generatorMs', label: 'generator', color: '#16a34a' },
] as const;

let state: DashboardSnapshot | undefined;
let xMode: XMode = 'round';
let connection: Connection = 'connecting';
const devices = new Map<string, DeviceRow>();

// ---- charts ---------------------------------------------------------------------------------

interface Chart {
  el: HTMLElement;
  plot: uPlot | undefined;
  options: (width: number) => uPlot.Options;
  data: () => uPlot.AlignedData;
}

const xLabel = (): string => (xMode === 'round' ? 'round' : 'seconds since start');
const axisStyle = { stroke: '#475569', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#e2e8f0' } };

/** A line chart against the round (or time): the x series first, then `series`. */
function lineChart(
  width: number,
  height: number,
  xName: string,
  yName: string | undefined,
  series: uPlot.Series[],
): uPlot.Options {
  return {
    width,
    height,
    scales: { x: { time: false } },
    legend: { live: false },
    axes: [
      { ...axisStyle, label: xName },
      { ...axisStyle, ...(yName ? { label: yName } : {}) },
    ],
    series: [{ label: xName }, ...series],
  };
}

const lossOptions = (width: number): uPlot.Options =>
  lineChart(width, 220, xLabel(), undefined, [
    { label: 'D', stroke: '#dc2626', width: 1.5 },
    { label: 'G', stroke: '#2563eb', width: 1.5 },
  ]);

const fidOptions = (width: number): uPlot.Options =>
  lineChart(width, 220, xLabel(), undefined, [
    { label: 'FID', stroke: '#9333ea', width: 2, points: { show: true, size: 6 } },
  ]);

const phaseOptions = (width: number): uPlot.Options =>
  lineChart(width, 200, 'round', 'ms', [
    ...PHASES.map((p) => ({ label: p.label, stroke: p.color, width: 1.25 })),
    { label: 'total', stroke: '#0f172a', width: 1, dash: [4, 4] },
  ]);

const x = (p: { round: number; elapsedS: number }): number =>
  xMode === 'round' ? p.round + 1 : p.elapsedS;

const charts: Chart[] = [
  {
    el: $('loss-chart'),
    plot: undefined,
    options: lossOptions,
    data: () => {
      const h = state?.history ?? [];
      return [h.map(x), h.map((p) => p.d), h.map((p) => p.g)];
    },
  },
  {
    el: $('fid-chart'),
    plot: undefined,
    options: fidOptions,
    data: () => {
      const e = (state?.evals ?? []).filter((p) => p.fid !== undefined);
      return [e.map(x), e.map((p) => p.fid ?? null)];
    },
  },
  {
    el: $('phase-chart'),
    plot: undefined,
    options: phaseOptions,
    data: () => {
      const h = (state?.history ?? []).filter((p) => p.phases);
      return [
        h.map((p) => p.round + 1),
        ...PHASES.map((ph) => h.map((p) => p.phases?.[ph.key] ?? null)),
        h.map((p) => p.phases?.totalMs ?? null),
      ];
    },
  },
];

const widthOf = (el: HTMLElement): number => Math.max(240, Math.floor(el.clientWidth));

function drawCharts(rebuild = false): void {
  for (const c of charts) {
    const data = c.data();
    if (rebuild && c.plot) {
      c.plot.destroy();
      c.plot = undefined;
    }
    if (!c.plot) c.plot = new uPlot(c.options(widthOf(c.el)), data, c.el);
    else c.plot.setData(data);
    c.el.dataset['points'] = String(data[0].length);
  }
  $('fid-empty').hidden = (charts[1]?.data()[0].length ?? 0) > 0;
}

let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => {
    for (const c of charts) c.plot?.setSize({ width: widthOf(c.el), height: c.plot.height });
  }, 100);
});

for (const b of document.querySelectorAll<HTMLButtonElement>('[data-x]')) {
  b.addEventListener('click', () => {
    xMode = b.dataset['x'] === 'time' ? 'time' : 'round';
    for (const o of document.querySelectorAll<HTMLButtonElement>('[data-x]'))
      o.classList.toggle('on', o === b);
    drawCharts(true);
  });
}

// ---- the rest of the page -------------------------------------------------------------------

const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits);

function drawHeader(): void {
  if (!state) return;
  const { run } = state;
  $('run-id').textContent = run.runId;
  const c = run.config;
  const parts = [
    run.kind === 'embedded' ? 'embedded run' : 'server',
    run.method === 'distgan' && run.schedule ? `${run.schedule} schedule` : run.method,
    [c['model'] ?? c['MODEL'], c['dataset'] ?? c['DATASET']].filter(Boolean).join(' on '),
  ].filter((s) => s);
  $('run-summary').textContent = parts.join(' · ');
  $('round').textContent = String(state.round + 1);
  $('rounds').textContent = String(run.rounds);
  drawStatus();
}

function drawStatus(): void {
  if (!state) return;
  const badge = $('status');
  badge.dataset['status'] = state.status;
  badge.textContent = STATUS_TEXT[state.status];
  const message = $('state-message');
  const detail = state.statusDetail ? `: ${state.statusDetail}` : '';
  const text: Partial<Record<RunStatus, string>> = {
    starting: `Starting${detail || ': loading the data and building the models'}…`,
    'waiting-for-devices': `Waiting for devices${detail}. Training starts when enough devices are alive.`,
    stopping: `Stopping after the round in progress${detail}.`,
    stopped: `Stopped after round ${state.round + 1} of ${state.run.rounds}${detail}.`,
    finished: `Finished: ${state.round + 1} of ${state.run.rounds} rounds trained${detail}.`,
    failed: `The run failed${detail}. See the server's log.`,
  };
  const t = text[state.status];
  message.hidden = t === undefined;
  message.dataset['status'] = state.status;
  message.textContent = t ?? '';
  drawConnection();
}

function drawConnection(): void {
  const ended = state !== undefined && ENDED.includes(state.status);
  const shown: Connection = connection === 'reconnecting' && ended ? 'offline' : connection;
  const badge = $('connection');
  badge.dataset['state'] = shown;
  badge.textContent = {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: 'reconnecting…',
    offline: 'offline',
  }[shown];
  const banner = $('banner');
  banner.hidden = shown === 'live' || shown === 'connecting';
  banner.dataset['state'] = shown;
  banner.textContent =
    shown === 'offline'
      ? 'The server has closed the stream after the run ended; this is its last state. Retrying in the background.'
      : 'Lost the live stream: reconnecting… (the page keeps what it has and catches up when the server answers)';
  document.body.dataset['connection'] = shown;
}

function drawPhases(): void {
  const last = state?.history.findLast((p) => p.phases);
  const bar = $('phase-bar');
  const legend = $('phase-legend');
  if (!last?.phases) {
    bar.replaceChildren();
    legend.textContent = state?.history.length ? 'this method reports no round phases' : '';
    $('latency-latest').textContent = '';
    return;
  }
  const p = last.phases;
  // Device compute happens inside collect: the bar shows collect without it.
  const segments = [
    { ...PHASES[0], ms: p.broadcastMs },
    { ...PHASES[1], ms: p.deviceComputeMs },
    {
      ...PHASES[2],
      label: 'collect (waiting, transfer)',
      ms: Math.max(0, p.collectMs - p.deviceComputeMs),
    },
    { ...PHASES[3], ms: p.aggregateMs },
    { ...PHASES[4], ms: p.generatorMs },
  ];
  const sum = segments.reduce((s, x) => s + x.ms, 0) || 1;
  bar.replaceChildren(
    ...segments.map((s) => {
      const d = document.createElement('div');
      d.style.flexGrow = String(s.ms / sum);
      d.style.background = s.color;
      d.title = `${s.label}: ${s.ms.toFixed(1)} ms`;
      return d;
    }),
  );
  legend.replaceChildren(
    ...segments.map((s) => {
      const span = document.createElement('span');
      const dot = document.createElement('i');
      dot.style.background = s.color;
      span.append(dot, `${s.label} ${s.ms.toFixed(1)} ms`);
      return span;
    }),
  );
  $('latency-latest').textContent = `round ${last.round + 1}: ${p.totalMs.toFixed(0)} ms`;
}

function drawGrids(): void {
  const grids = state?.grids ?? [];
  const latest = grids.at(-1);
  const img = $<HTMLImageElement>('grid-latest');
  img.hidden = !latest;
  $('grid-empty').hidden = latest !== undefined;
  if (latest && img.getAttribute('src') !== latest.url) img.src = latest.url;
  img.dataset['round'] = latest ? String(latest.round) : '';
  $('grid-caption').textContent = latest ? `after round ${latest.round + 1}` : '';
  $('grid-strip').replaceChildren(
    ...grids
      .slice(0, -1)
      .reverse()
      .map((g) => {
        const fig = document.createElement('figure');
        const im = document.createElement('img');
        im.src = g.url;
        im.alt = `sample grid after round ${g.round + 1}`;
        im.loading = 'lazy';
        const cap = document.createElement('figcaption');
        cap.textContent = `round ${g.round + 1}`;
        fig.append(im, cap);
        return fig;
      }),
  );
}

function drawDevices(): void {
  const rows = [...devices.values()].sort((a, b) =>
    a.deviceId.localeCompare(b.deviceId, 'en', { numeric: true }),
  );
  const body = $('devices').querySelector('tbody');
  if (!body) return;
  body.replaceChildren(
    ...rows.map((d) => {
      const tr = document.createElement('tr');
      if (d.alive === false) tr.className = 'gone';
      const cells = [
        d.deviceId + (d.alive === false ? ' (gone)' : ''),
        d.samples === undefined ? '–' : String(d.samples),
        d.lastRound < 0 ? '–' : String(d.lastRound + 1),
        fmt(d.latencyMs),
        fmt(d.computeMs),
        String(d.accepted),
        String(d.late),
        String(d.refused),
      ];
      tr.append(
        ...cells.map((c, i) => {
          const td = document.createElement('td');
          td.textContent = c;
          if ((i === 6 || i === 7) && c !== '0') td.className = 'warn';
          return td;
        }),
      );
      return tr;
    }),
  );
  const alive = rows.filter((d) => d.alive !== false).length;
  const late = state?.lateUnattributed ?? 0;
  $('device-summary').textContent =
    `${alive} of ${rows.length} taking part` +
    (late ? ` · ${late} late updates of unknown devices` : '');
}

function drawConfig(): void {
  if (!state) return;
  $('config').replaceChildren(
    ...Object.entries(state.run.config).map(([k, v]) => {
      const row = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
      row.append(dt, dd);
      return row;
    }),
  );
}

// Many events can arrive between two frames (a fast run, a catch-up): draw once per frame.
type Part = 'header' | 'charts' | 'phases' | 'grids' | 'devices' | 'config';
const pending = new Set<Part>();
let frame = 0;
function schedule(...parts: Part[]): void {
  for (const p of parts) pending.add(p);
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const parts = new Set(pending);
    pending.clear();
    if (parts.has('header')) drawHeader();
    if (parts.has('charts')) drawCharts();
    if (parts.has('phases')) drawPhases();
    if (parts.has('grids')) drawGrids();
    if (parts.has('devices')) drawDevices();
    if (parts.has('config')) drawConfig();
  });
}

function apply(e: DashboardEvent): void {
  if (!state) return;
  switch (e.type) {
    case 'round':
      state.round = Math.max(state.round, e.point.round);
      state.history.push(e.point);
      state.history = thinHistory(state.history, state.maxHistoryPoints);
      for (const d of e.devices) devices.set(d.deviceId, d);
      schedule('header', 'charts', 'phases');
      if (e.devices.length > 0) schedule('devices');
      break;
    case 'eval':
      state.evals.push(e.point);
      if (e.point.fid !== undefined)
        $('fid-latest').textContent = `latest ${e.point.fid.toFixed(1)}`;
      schedule('charts');
      break;
    case 'grid':
      state.grids = [...state.grids.filter((g) => g.round !== e.grid.round), e.grid].slice(
        -(state.gridStripSize + 1),
      );
      schedule('grids');
      break;
    case 'status':
      state.status = e.status;
      state.statusDetail = e.detail;
      schedule('header');
      break;
    case 'devices':
      for (const d of e.devices) devices.set(d.deviceId, d);
      schedule('devices');
      break;
    case 'run':
      state.run = e.run;
      schedule('header', 'config');
      break;
  }
}

function setConnection(c: Connection): void {
  connection = c;
  drawConnection();
}

// ---- the stream -----------------------------------------------------------------------------

const EVENTS: DashboardEvent['type'][] = ['round', 'eval', 'grid', 'status', 'devices', 'run'];

function connect(): void {
  const source = new EventSource('/api/events');
  source.addEventListener('snapshot', (m) => {
    state = JSON.parse((m as MessageEvent<string>).data) as DashboardSnapshot;
    devices.clear();
    for (const d of state.devices) devices.set(d.deviceId, d);
    const fid = state.evals.findLast((p) => p.fid !== undefined)?.fid;
    $('fid-latest').textContent = fid === undefined ? '' : `latest ${fid.toFixed(1)}`;
    setConnection('live');
    schedule('header', 'charts', 'phases', 'grids', 'devices', 'config');
  });
  for (const type of EVENTS) {
    source.addEventListener(type, (m) => apply(JSON.parse((m as MessageEvent<string>).data)));
  }
  source.addEventListener('error', () => {
    setConnection('reconnecting');
    // The browser retries a dropped stream by itself; one it gave up on (an HTTP error) is
    // opened again here.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
}

drawConnection();
connect();
