/** The page's markup; the script fills it from the snapshot and the events. */
export function dashboardPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script defer src="/assets/dashboard.js"></script>
</head>
<body>
<header>
  <div class="title">
    <h1>distgan <span id="run-id"></span></h1>
    <div id="run-summary" class="muted"></div>
  </div>
  <div class="counter"><span class="label">round</span> <span id="round">–</span> <span class="muted">/ <span id="rounds">–</span></span></div>
  <div id="status" class="badge" data-status="starting">starting</div>
  <div id="connection" class="badge" data-state="connecting">connecting…</div>
</header>
<div id="banner" class="banner" hidden></div>
<div id="state-message" class="state" hidden></div>
<main>
  <section class="card wide">
    <div class="card-head"><h2>Losses and FID</h2>
      <div class="toggle" role="group" aria-label="x axis">x:
        <button type="button" data-x="round" class="on">round</button>
        <button type="button" data-x="time">time (s)</button>
      </div>
    </div>
    <div class="charts2">
      <div><h3>D and G loss</h3><div id="loss-chart" class="chart" data-points="0"></div></div>
      <div><h3>FID <span id="fid-latest" class="muted"></span></h3><div id="fid-chart" class="chart" data-points="0"></div><p id="fid-empty" class="muted small">no evaluation yet (EVAL_EVERY / --eval-every)</p></div>
    </div>
  </section>
  <section class="card wide">
    <div class="card-head"><h2>Round latency by phase</h2><span id="latency-latest" class="muted"></span></div>
    <div id="phase-bar" class="phase-bar"></div>
    <div id="phase-legend" class="legend small"></div>
    <div id="phase-chart" class="chart" data-points="0"></div>
  </section>
  <section class="card">
    <div class="card-head"><h2>Samples</h2><span id="grid-caption" class="muted"></span></div>
    <div class="grid-latest"><img id="grid-latest" alt="latest sample grid" hidden><p id="grid-empty" class="muted">no sample grid yet</p></div>
    <div id="grid-strip" class="strip"></div>
  </section>
  <section class="card">
    <div class="card-head"><h2>Devices</h2><span id="device-summary" class="muted"></span></div>
    <div class="table-wrap"><table id="devices">
      <thead><tr><th>device</th><th>samples</th><th>last round</th><th>latency ms</th><th>compute ms</th><th>accepted</th><th>late</th><th>refused</th></tr></thead>
      <tbody></tbody>
    </table></div>
  </section>
  <section class="card wide">
    <div class="card-head"><h2>Configuration</h2></div>
    <dl id="config" class="config"></dl>
  </section>
</main>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}
