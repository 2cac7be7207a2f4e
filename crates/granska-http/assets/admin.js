// Admin: counts, overdue exams, the AI model and reading policy in force, the latest audit entries.
import { api, clearError, el, examCells, formatTime, showError, startPage } from '/web/assets/station.js';

const content = document.getElementById('admin-content');
const updated = document.getElementById('updated');
const refreshButton = document.getElementById('refresh');

function kv(target, entries, { numeric = false } = {}) {
  const node = document.getElementById(target);
  const items = entries.filter(([, v]) => v !== undefined);
  if (!items.length) {
    node.replaceChildren(el('dt', { class: 'muted' }, 'none'), el('dd', {}, ''));
    return;
  }
  node.replaceChildren(...items.flatMap(([k, v]) => [
    el('dt', {}, k),
    el('dd', { class: numeric ? 'num' : null }, v === null || v === '' ? '—' : String(v)),
  ]));
}

function table(headers, rows, emptyText) {
  if (!rows.length) return el('p', { class: 'empty' }, emptyText);
  return el('table', { class: 'data' },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows));
}

function render(data) {
  const counts = data.counts || {};
  kv('by-mode', Object.entries(counts.studies_by_mode || {}), { numeric: true });
  kv('by-state', Object.entries(counts.studies_by_state || {}), { numeric: true });
  kv('tasks', Object.entries(counts.tasks || {}), { numeric: true });

  const model = data.model || {};
  kv('model', [
    ['Name', model.name], ['Version', model.version], ['Device', model.device],
    ['SHA-256', model.sha256], ['Intended use', model.intended_use],
  ]);
  const policy = data.policy || {};
  kv('policy', [['Name', policy.name], ['Version', policy.version]]);
  document.getElementById('policy-toml').textContent = policy.toml || '';
  document.getElementById('policy-details').hidden = !policy.toml;

  const now = Date.now();
  const overdue = (data.overdue || []).map((exam) => el('tr', { data: { studyUid: exam.study_uid } }, examCells(exam, now)));
  document.getElementById('overdue').replaceChildren(table(
    ['Study', 'Category', 'Reading mode', 'Flags', 'Tasks', 'Waiting', 'Status / reason'], overdue, 'No overdue exams.'));

  const entries = [...(data.audit || [])].sort((x, y) => (y.at_unix_ms || 0) - (x.at_unix_ms || 0));
  const audit = entries.map((a) => el('tr', {},
    el('td', { class: 'mono' }, formatTime(a.at_unix_ms)),
    el('td', {}, a.principal || '—'),
    el('td', {}, a.role || '—'),
    el('td', { class: 'mono' }, a.action || ''),
    el('td', { class: 'uid', title: a.study_uid || null }, a.study_uid || '—'),
    el('td', { class: a.outcome === 'ok' ? null : 'reason' }, a.outcome || '')));
  document.getElementById('audit').replaceChildren(table(
    ['Time', 'Principal', 'Role', 'Action', 'Study', 'Outcome'], audit, 'No audit entries.'));
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  refreshButton.disabled = true;
  try {
    const data = await api('/web/api/admin');
    render(data);
    content.hidden = false;
    clearError();
    updated.textContent = `Updated ${formatTime(Date.now())} · refreshes every 10 s`;
  } catch (e) {
    showError(e);
    updated.textContent = 'Not updated';
  } finally {
    busy = false;
    refreshButton.disabled = false;
  }
}

refreshButton.addEventListener('click', refresh);

async function main() {
  const sess = await startPage('admin');
  if (!sess) {
    updated.textContent = '';
    return;
  }
  await refresh();
  setInterval(() => {
    if (!document.hidden) refresh();
  }, 10000);
}

main();
