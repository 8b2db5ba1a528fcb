// The web dashboard served by control at /dashboard: one self-contained page (no external assets,
// no build step) that polls the operator API and offers its commands as buttons.

import type { FastifyInstance } from 'fastify';

export const DASHBOARD_PATH = '/dashboard';

// The page talks only to /v1/rollouts on the same origin. When the API wants a token, the page
// asks once and keeps it in sessionStorage (never in the URL, never in localStorage).
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchyard</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header span { color: #afb8c1; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; }
  .row { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
  .name { font-weight: 600; font-size: 16px; }
  .phase { padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eaeef2; }
  .phase.Succeeded { background: #dafbe1; color: var(--ok); }
  .phase.Failed, .phase.RollingBack { background: #ffebe9; color: var(--bad); }
  .phase.Paused, .phase.WaitingForPromotion { background: #fff8c5; color: var(--warn); }
  .bar { position: relative; height: 10px; background: #eaeef2; border-radius: 5px; width: 260px; overflow: hidden; }
  .bar > div { position: absolute; inset: 0 auto 0 0; background: #0969da; }
  .muted { color: var(--muted); }
  table { border-collapse: collapse; width: 100%; margin-top: 8px; }
  td, th { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid #eaeef2; font-size: 13px; vertical-align: top; }
  .pass { color: var(--ok); } .fail { color: var(--bad); } .inconclusive { color: var(--warn); }
  button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa; cursor: pointer; }
  button:hover { background: #eaeef2; }
  button.danger { color: var(--bad); }
  #error { color: var(--bad); }
  .warning { color: var(--warn); margin: 4px 0; }
  .empty { padding: 30px; text-align: center; }
</style>
</head>
<body>
<header><h1>switchyard</h1><span>progressive delivery</span><span id="updated"></span></header>
<main>
  <div id="error" role="alert"></div>
  <div id="rollouts"><div class="card empty muted">loading…</div></div>
</main>
<script>
'use strict';
const TOKEN_KEY = 'switchyard-api-token';
const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const pct = (value) => (value === null || value === undefined ? '–' : (value * 100).toFixed(2) + ' %');
const ms = (seconds) => (seconds === null || seconds === undefined ? '–' : (seconds * 1000).toFixed(1) + ' ms');
const age = (seconds) => seconds < 90 ? Math.round(seconds) + 's' : seconds < 5400 ? Math.round(seconds / 60) + 'm' : Math.round(seconds / 3600) + 'h';

// Once the token prompt is cancelled, the 1 s refresh must not reopen it (a modal every second);
// the next button click asks again.
let tokenDeclined = false;

async function api(path, init) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = Object.assign({ 'content-type': 'application/json' }, token ? { authorization: 'Bearer ' + token } : {});
  const response = await fetch(path, Object.assign({}, init, { headers }));
  if (response.status === 401 && !tokenDeclined) {
    const entered = prompt('switchyard API token (from --api-token-file):');
    if (entered) { sessionStorage.setItem(TOKEN_KEY, entered.trim()); return api(path, init); }
    tokenDeclined = true;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || response.status + ' ' + response.statusText);
  return body;
}

function verdictRows(verdicts) {
  const last = verdicts[verdicts.length - 1];
  if (!last) return '<p class="muted">no analysis yet</p>';
  const rows = last.checks.map((check) =>
    '<tr><td class="' + esc(check.outcome) + '">' + esc(check.outcome) + '</td><td>' + esc(check.name) + '</td><td>' + esc(check.message) + '</td></tr>').join('');
  return '<table><tr><th>verdict</th><th>check</th><th>numbers</th></tr>' + rows + '</table>' +
    '<p class="muted">step ' + esc(Number(last.step) + 1) + ' at ' + esc(last.weight) + ' %: canary ' + esc(last.canary.requests) + ' req, success ' + pct(last.canary.successRate) +
    ', p99 ' + ms(last.canary.p99Seconds) + ' · stable ' + esc(last.stable.requests) + ' req, success ' + pct(last.stable.successRate) + ', p99 ' + ms(last.stable.p99Seconds) + '</p>';
}

function card(rollout) {
  const id = encodeURIComponent(rollout.namespace) + '/' + encodeURIComponent(rollout.name);
  const steps = rollout.steps.concat([100]).map((w, i) => (i === rollout.step ? '<b>' + esc(w) + '</b>' : esc(w))).join(' → ');
  const buttons = ['promote', 'pause', 'resume', 'retry', 'abort'].map((verb) =>
    '<button data-verb="' + verb + '" data-id="' + esc(id) + '"' + (verb === 'abort' ? ' class="danger"' : '') + '>' + verb + '</button>').join(' ');
  return '<section class="card" data-rollout="' + esc(rollout.namespace + '/' + rollout.name) + '">' +
    '<div class="row"><span class="name">' + esc(rollout.namespace) + '/' + esc(rollout.name) + '</span>' +
    '<span class="phase ' + esc(rollout.phase) + '">' + esc(rollout.phase) + '</span>' +
    '<span class="bar" title="canary weight"><div style="width:' + Number(rollout.weight) + '%"></div></span>' +
    '<span class="weight">' + Number(rollout.weight) + ' % canary</span>' +
    '<span class="muted">steps ' + steps + ' · ' + esc(rollout.strategy) + ' · ' + age(rollout.timeInPhaseSeconds) + ' in phase</span></div>' +
    '<p class="message">' + esc(rollout.message) + '</p>' +
    (rollout.warnings || []).map((text) => '<p class="warning">warning: ' + esc(text) + '</p>').join('') +
    verdictRows(rollout.lastVerdicts) +
    '<div class="row">' + buttons + ' <input type="number" min="0" max="100" size="4" aria-label="weight" data-weight="' + esc(id) + '">' +
    '<button data-verb="set-weight" data-id="' + esc(id) + '">set weight</button></div></section>';
}

// Redrawing the cards must not lose a weight being typed: a cleared input would send 0 %.
function keepTyped(redraw) {
  const typed = new Map();
  for (const input of document.querySelectorAll('input[data-weight]')) typed.set(input.dataset.weight, input.value);
  const focused = document.activeElement && document.activeElement.matches('input[data-weight]') ? document.activeElement.dataset.weight : null;
  redraw();
  for (const input of document.querySelectorAll('input[data-weight]')) {
    if (typed.has(input.dataset.weight)) input.value = typed.get(input.dataset.weight);
    if (input.dataset.weight === focused) input.focus();
  }
}

// A rejected command's reason stays until the next command: the refresh it triggers must not wipe it.
let loadError = '';
let commandError = '';
function showErrors() {
  document.getElementById('error').textContent = [commandError, loadError].filter(Boolean).join(' · ');
}

async function refresh() {
  try {
    const { items } = await api('/v1/rollouts');
    keepTyped(() => {
      document.getElementById('rollouts').innerHTML = items.length
        ? items.map(card).join('')
        : '<div class="card empty muted">no rollouts yet: annotate a Deployment with switchyard.io/canary: "enabled"</div>';
    });
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    loadError = '';
  } catch (error) {
    loadError = 'cannot load rollouts: ' + error.message;
  }
  showErrors();
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-verb]');
  if (!button) return;
  tokenDeclined = false;
  const verb = button.dataset.verb;
  const id = button.dataset.id;
  let body = {};
  if (verb === 'set-weight') {
    // Number('') is 0: an empty box must not send the canary to 0 %.
    const typed = document.querySelector('[data-weight="' + id + '"]').value.trim();
    if (typed === '') {
      commandError = 'set-weight: type a weight 0-100 first';
      showErrors();
      return;
    }
    body = { weight: Number(typed) };
  }
  if (verb === 'abort' && !confirm('Abort ' + decodeURIComponent(id) + '? The canary goes to 0 % at once.')) return;
  try {
    await api('/v1/rollouts/' + id + '/' + verb, { method: 'POST', body: JSON.stringify(body) });
    commandError = '';
  } catch (error) {
    commandError = verb + ': ' + error.message;
  }
  showErrors();
  refresh();
});

refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;

/** Serves the dashboard page; `/` redirects to it so the bare control URL is useful in a browser. */
export function registerDashboard(app: FastifyInstance): void {
  app.get(DASHBOARD_PATH, async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
      )
      .send(PAGE),
  );
  app.get('/', async (_request, reply) => reply.redirect(DASHBOARD_PATH));
}
