// Reading page: claims the next task, hangs its views, shows the AI result per the station's
// setting (and the screening reads for a consensus task), takes the reader's decision.
import {
  TASK_KIND, api, clearError, csrfHeaders, describeError, el, formatTime, isTyping, shortUid,
  showError, startPage, uuid,
} from '/web/assets/station.js';
import { SLOTS, Viewer } from '/web/assets/viewer.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
const ui = {
  taskKind: $('task-kind'), facts: $('exam-facts'), reason: $('reason'), ai: $('ai-panel'),
  consensus: $('consensus-section'), otherReads: $('other-reads'),
  recall: $('decision-recall'), noRecall: $('decision-no-recall'), note: $('note'), submit: $('submit'),
  submitError: $('submit-error'), result: $('submit-result'), after: $('after-submit'), readNext: $('read-next'),
  extras: $('extras-section'), extraList: $('extra-views'), empty: $('read-empty'), emptyText: $('read-empty-text'),
  status: $('viewer-status'), help: $('help-overlay'), invert: $('invert'), magnifier: $('magnifier'),
};

const STATUS = { scored: 'Scored', unscorable: 'Could not be scored', incomplete: 'Incomplete' };
const MODE = { single: 'Single reading', double: 'Double reading' };
const PRIOR_KIND = { first: 'First read', second: 'Second read', consensus: 'Consensus' };

const state = {
  session: null,
  claim: null,
  task: null,
  decision: null,
  submitting: false,
  submitted: false,
  released: false,
  claiming: false,
};

const viewer = new Viewer($('view-grid'), {
  onSettled(count) {
    body.dataset.viewsDrawn = String(count);
    performance.mark('granska-views-drawn');
    updateStatus();
  },
});

// ---------- claiming ----------

function resetForClaim() {
  delete body.dataset.viewsDrawn;
  delete body.dataset.taskId;
  delete body.dataset.studyUid;
  delete body.dataset.taskKind;
  delete body.dataset.submitted;
  state.claim = null;
  state.task = null;
  state.decision = null;
  state.submitting = false;
  state.submitted = false;
  state.released = false;
  viewer.clear();
  ui.empty.hidden = true;
  ui.taskKind.textContent = 'Claiming the next exam…';
  ui.facts.replaceChildren();
  ui.reason.hidden = true;
  ui.ai.replaceChildren(el('span', { class: 'muted' }, '—'));
  ui.consensus.hidden = true;
  ui.otherReads.replaceChildren();
  ui.extras.hidden = true;
  ui.extraList.replaceChildren();
  ui.note.value = '';
  ui.result.hidden = true;
  ui.after.hidden = true;
  clearError(ui.submitError);
  clearError();
  syncDecision();
}

async function claimNext() {
  if (state.claiming) return;
  state.claiming = true;
  resetForClaim();
  performance.mark('granska-claim-start');
  try {
    const claim = await api('/web/api/claim-next', { method: 'POST' });
    if (!claim || !claim.task) {
      showNothing();
      return;
    }
    render(claim);
  } catch (e) {
    ui.taskKind.textContent = 'No exam claimed';
    if (!e.redirecting) showNothing(`Could not claim an exam: ${describeError(e)}`);
  } finally {
    state.claiming = false;
    updateStatus();
  }
}

function showNothing(error = null) {
  if (!error) ui.taskKind.textContent = 'Nothing to read';
  ui.emptyText.textContent = error || 'Nothing to read right now.';
  ui.emptyText.classList.toggle('form-error', Boolean(error));
  $('empty-retry').textContent = error ? 'Try again' : 'Check again';
  ui.empty.hidden = false;
  $('empty-retry').focus();
}

function render(claim) {
  const task = claim.task;
  state.claim = claim;
  state.task = task;
  body.dataset.taskId = String(task.task_id);
  body.dataset.studyUid = task.study_uid;
  body.dataset.taskKind = task.kind;
  ui.taskKind.textContent = (TASK_KIND[task.kind] || task.kind) + (task.resumed ? ' (resumed)' : '');

  const facts = [
    ['Reading mode', MODE[claim.reading_mode] || claim.reading_mode || '—'],
    ['Status', STATUS[claim.status] || claim.status || '—'],
    ['Study', el('span', { class: 'uid', title: task.study_uid }, shortUid(task.study_uid, 16))],
    ['Task', `#${task.task_id}`],
    ['Claim held until', Number.isFinite(task.lease_expires_unix_ms) ? formatTime(task.lease_expires_unix_ms) : '—'],
  ];
  ui.facts.replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));

  if (claim.reason) {
    const lead = claim.status === 'unscorable' ? 'Could not be scored: '
      : claim.status === 'incomplete' ? 'Incomplete exam: '
        : claim.reading_mode === 'double' ? 'Double read: ' : '';
    ui.reason.textContent = lead + claim.reason;
    ui.reason.hidden = false;
  }

  renderAi(claim.ai, claim.ai_pending, false);

  const priors = task.kind === 'consensus' ? claim.prior_reads || [] : [];
  if (priors.length) {
    ui.otherReads.replaceChildren(...priors.map((read) => el('div', { class: 'other-read', testid: 'other-read', data: { kind: read.kind || '', decision: read.decision || '' } },
      el('div', { class: 'reader' }, `${PRIOR_KIND[read.kind] || read.kind || 'Read'} · ${read.reader || 'unknown reader'}`),
      el('div', { class: `decision ${read.decision === 'recall' ? 'decision-recall-text' : 'decision-no-recall-text'}` },
        read.decision === 'recall' ? 'Recall' : read.decision === 'no-recall' ? 'No recall' : read.decision || '—'),
      read.note ? el('div', { class: 'note' }, read.note) : el('div', { class: 'note muted' }, 'No note'))));
    ui.consensus.hidden = false;
  }

  const extras = viewer.load(claim.views || []);
  if (extras.length) {
    ui.extraList.replaceChildren(...extras.map((v) => el('li', { title: v.sop_instance_uid || null },
      `${v.laterality || '?'} ${v.view || '?'}`)));
    ui.extras.hidden = false;
  }
  syncDecision();
}

/** The AI panel: the result, or why there is none. */
function renderAi(ai, pending, afterSubmit) {
  if (ai) {
    const flags = ai.flags || [];
    const high = ai.extra_high || ai.category === 10 || flags.includes('extra-high');
    ui.ai.replaceChildren(
      el('div', { class: high ? 'ai-category high' : 'ai-category', testid: 'ai-category', data: { category: ai.category ?? '' } },
        ai.category === null || ai.category === undefined ? '—' : `${ai.category} / 10`),
      el('dl', { class: 'kv small' },
        el('dt', {}, 'Score'), el('dd', { class: 'num' }, Number.isFinite(ai.raw_score) ? ai.raw_score.toFixed(3) : '—'),
        el('dt', {}, 'Flags'), el('dd', {}, flags.length
          ? flags.map((f) => el('span', { class: f === 'extra-high' ? 'flag extra-high' : 'flag' }, f))
          : el('span', { class: 'muted' }, 'none')),
        el('dt', {}, 'Model'), el('dd', {}, ai.model || '—')),
    );
    return;
  }
  let text;
  if (pending) text = 'AI result shown after your decision';
  else if (afterSubmit) text = 'No AI result for this exam';
  else if (!state.session || state.session.show_ai === 'never' || !state.session.show_ai) text = 'AI result hidden (station setting)';
  else text = state.claim && state.claim.status !== 'scored' ? 'No AI result: the exam was not scored' : 'No AI result for this exam';
  ui.ai.replaceChildren(el('div', { class: 'ai-pending' }, text));
}

// ---------- decision ----------

function canDecide() {
  return Boolean(state.task) && !state.submitted && !state.submitting;
}

function syncDecision() {
  const open = canDecide();
  for (const [button, value] of [[ui.recall, 'recall'], [ui.noRecall, 'no-recall']]) {
    button.disabled = !open;
    button.setAttribute('aria-pressed', String(state.decision === value));
  }
  ui.note.disabled = !open;
  ui.submit.disabled = !open || !state.decision;
  ui.submit.firstChild.textContent = state.submitting ? 'Submitting…' : state.submitted ? 'Submitted' : 'Submit read';
}

function choose(decision) {
  if (!canDecide()) return;
  state.decision = decision;
  clearError(ui.submitError);
  syncDecision();
}

const NEXT_TEXT = {
  'awaiting-other-read': () => (state.task && state.task.kind === 'second'
    ? 'Read submitted — awaiting the first read' : 'Read submitted — awaiting the second read'),
  consensus: () => 'Read submitted — the reads differ: sent to consensus',
  final: () => 'Read submitted — final',
};

async function submit() {
  if (!state.task || !state.decision || state.submitted || state.submitting) return;
  const taskId = state.task.task_id;
  const key = `granska.submit.${taskId}`;
  let requestId = sessionStorage.getItem(key);
  if (!requestId) {
    requestId = uuid();
    sessionStorage.setItem(key, requestId);
  }
  state.submitting = true;
  clearError(ui.submitError);
  syncDecision();
  try {
    const res = await api(`/web/api/tasks/${encodeURIComponent(taskId)}/submit`, {
      method: 'POST',
      json: { decision: state.decision, note: ui.note.value.trim(), request_id: requestId },
    });
    if (state.task && state.task.task_id !== taskId) return;
    state.submitted = true;
    sessionStorage.removeItem(key);
    body.dataset.submitted = 'true';
    const next = res && res.next;
    let text = (NEXT_TEXT[next] || (() => `Read submitted${next ? ` — ${next}` : ''}`))();
    if (res && res.duplicate) text += ' (it had already been recorded)';
    ui.result.textContent = text;
    ui.result.hidden = false;
    if ((res && res.ai) || (state.claim && state.claim.ai_pending)) renderAi(res ? res.ai : null, false, true);
    ui.after.hidden = false;
    ui.readNext.focus();
  } catch (e) {
    showError(`The read was not submitted: ${describeError(e)} — your decision is kept; submit again to retry.`, ui.submitError);
  } finally {
    state.submitting = false;
    syncDecision();
  }
}

// ---------- releasing ----------

// A claim lapses after the worklist's lease; claiming again while holding a task renews it
// (the core gives the held task back), so a long read keeps its claim.
const RENEW_EVERY_MS = 4 * 60 * 1000;
setInterval(async () => {
  if (!mustRelease()) return;
  try {
    const again = await api('/web/api/claim-next', { method: 'POST' });
    if (again && again.task && state.task && again.task.task_id === state.task.task_id) {
      state.task.lease_expires_unix_ms = again.task.lease_expires_unix_ms;
    }
  } catch (_) {
    // The next tick tries again; the submit itself reports a lost claim.
  }
}, RENEW_EVERY_MS);

function mustRelease() {
  return Boolean(state.task) && !state.submitted && !state.released;
}

function releaseUrl() {
  return `/web/api/tasks/${encodeURIComponent(state.task.task_id)}/release`;
}

async function releaseNow() {
  if (!mustRelease()) return;
  state.released = true;
  try {
    await api(releaseUrl(), { method: 'POST' });
  } catch (e) {
    if (!e.redirecting) state.released = false; // pagehide tries once more
  }
}

async function backToWorklist() {
  await releaseNow();
  location.assign('/web/worklist');
}

window.addEventListener('pagehide', () => {
  if (!mustRelease()) return;
  state.released = true;
  fetch(releaseUrl(), { method: 'POST', keepalive: true, headers: csrfHeaders(), credentials: 'same-origin' }).catch(() => {});
});
window.addEventListener('pageshow', (e) => {
  if (e.persisted) location.reload(); // back from the cache: the task was released; claim afresh
});

// ---------- toolbar, help, keyboard ----------

const PRESET_NAME = { header: 'Header window', full: 'Full range', narrow: 'Narrow' };
let presetNote = '';

function updateStatus() {
  const bits = [];
  if (presetNote) bits.push(presetNote);
  if (viewer.invert) bits.push('inverted');
  const solo = viewer.solo();
  if (solo) bits.push(`${solo} alone`);
  if (state.task && body.dataset.viewsDrawn === undefined && viewer.expected) bits.push('loading views…');
  ui.status.textContent = bits.join(' · ');
  ui.invert.setAttribute('aria-pressed', String(viewer.invert));
  ui.magnifier.setAttribute('aria-pressed', String(viewer.magnifier));
}

function preset(name) {
  viewer.applyPreset(name);
  presetNote = PRESET_NAME[name];
  updateStatus();
}

function cycle() {
  presetNote = PRESET_NAME[viewer.cyclePreset()];
  updateStatus();
}

function solo(slot) {
  viewer.setSolo(slot);
  updateStatus();
}

let helpReturn = null;
function toggleHelp(open = ui.help.hidden) {
  if (open) {
    helpReturn = document.activeElement;
    ui.help.hidden = false;
    $('help-close').focus();
  } else {
    ui.help.hidden = true;
    if (helpReturn && helpReturn.focus) helpReturn.focus();
  }
}

const on = (id, fn) => $(id).addEventListener('click', fn);
on('back', backToWorklist);
on('back-after', backToWorklist);
on('wl-header', () => preset('header'));
on('wl-full', () => preset('full'));
on('wl-narrow', () => preset('narrow'));
on('invert', () => { viewer.toggleInvert(); updateStatus(); });
on('fit', () => viewer.fitAll());
on('one-to-one', () => viewer.oneToOneAll());
on('zoom-in', () => viewer.zoomIn());
on('zoom-out', () => viewer.zoomOut());
on('magnifier', () => { viewer.toggleMagnifier(); updateStatus(); });
on('four-up', () => solo(null));
on('help', () => toggleHelp());
on('help-close', () => toggleHelp(false));
on('decision-recall', () => choose('recall'));
on('decision-no-recall', () => choose('no-recall'));
on('submit', submit);
on('read-next', claimNext);
on('empty-retry', claimNext);
ui.help.addEventListener('click', (e) => {
  if (e.target === ui.help) toggleHelp(false);
});
$('view-grid').addEventListener('dblclick', () => queueMicrotask(updateStatus));

function isControl(target) {
  return target instanceof Element && Boolean(target.closest('button, a[href], summary, select'));
}

document.addEventListener('keydown', (e) => {
  if (!ui.help.hidden) {
    if (e.key === 'Escape' || e.key === '?') {
      e.preventDefault();
      toggleHelp(false);
    }
    return;
  }
  if (isTyping(e)) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape') {
      e.target.blur();
    }
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  const onDecision = e.target === ui.recall || e.target === ui.noRecall;
  if ((e.key === 'Enter' || e.key === ' ') && isControl(e.target) && !onDecision) return; // the focused control acts
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  let handled = true;
  switch (key) {
    case 'r': choose('recall'); break;
    case 'o': choose('no-recall'); break;
    case 'Enter': case 's': submit(); break;
    case 'n':
      if (state.submitted || !ui.empty.hidden) claimNext();
      else handled = false;
      break;
    case 'i': viewer.toggleInvert(); updateStatus(); break;
    case 'm': viewer.toggleMagnifier(); updateStatus(); break;
    case 'f': viewer.fitAll(); break;
    case 'z': viewer.oneToOneAll(); break;
    case '+': case '=': viewer.zoomIn(); break;
    case '-': case '_': viewer.zoomOut(); break;
    case 'w': cycle(); break;
    case '1': case '2': case '3': case '4': solo(SLOTS[Number(key) - 1]); break;
    case '0': case 'Escape': solo(null); break;
    case '?': toggleHelp(true); break;
    default: handled = false;
  }
  if (handled) e.preventDefault();
});

async function main() {
  state.session = await startPage('read', { beforeSignOut: releaseNow });
  if (!state.session) {
    ui.taskKind.textContent = 'Not signed in';
    return;
  }
  await claimNext();
}

main();
