// Granska reading station: helpers shared by every page (API calls with the CSRF header,
// the session, the header bar, error banners, small formatting helpers).
// Plain ES module, no dependencies. Nothing here logs patient data (the API has none).

/** The signed-in session once loaded: {principal, role, csrf_token, idle_timeout_s, show_ai}. */
let current = null;

/** Where a signed-out reader is sent: the sign-in page, coming back here afterwards. */
export function signInUrl() {
  const next = location.pathname + location.search;
  return `/web/sign-in?next=${encodeURIComponent(next)}`;
}

let leaving = false;
/** Goes to the sign-in page (once). */
export function goSignIn() {
  if (leaving) return;
  leaving = true;
  location.assign(signInUrl());
}

/** An error from the station server (status 0: the server could not be reached). */
export class ApiError extends Error {
  constructor(status, message, { redirecting = false } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.redirecting = redirecting;
  }
}

export const NETWORK_MESSAGE =
  'The station server could not be reached (network failure). Check the connection and try again.';

/** The CSRF header for a state-changing request, when a session is known. */
export function csrfHeaders() {
  return current ? { 'X-CSRF-Token': current.csrf_token } : {};
}

/**
 * Calls the station API. `json` is sent as a JSON body; POSTs carry the session's CSRF token.
 * Resolves to the parsed JSON body (null for 204 or an empty body). A 401 sends the reader to
 * sign-in; any other failure rejects with an ApiError carrying the server's text.
 */
export async function api(path, { method = 'GET', json, signal, keepalive = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') Object.assign(headers, csrfHeaders());
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal, keepalive, credentials: 'same-origin' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, NETWORK_MESSAGE);
  }
  return readResponse(res);
}

/** Turns a fetch Response into JSON or an ApiError (401: off to sign-in). */
export async function readResponse(res) {
  if (res.status === 401) {
    goSignIn();
    throw new ApiError(401, 'Signed out: the session has ended. Going to sign-in…', { redirecting: true });
  }
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'The server sent an answer the station could not read.');
  }
}

/** The server's message for a failed response. */
export async function errorText(res) {
  let text = '';
  try {
    text = (await res.text()).trim();
  } catch {
    /* body unreadable: fall back to the status */
  }
  if (text.length > 600) text = `${text.slice(0, 600)}…`;
  return text || `The server answered ${res.status} ${res.statusText || ''}`.trim();
}

/** Loads the session; 401 sends the reader to sign-in. */
export async function loadSession() {
  current = await api('/web/api/session');
  return current;
}

export function session() {
  return current;
}

/** Ends the session and goes to the sign-in page. */
export async function signOut() {
  try {
    await fetch('/web/sign-out', { method: 'POST', headers: csrfHeaders(), credentials: 'same-origin' });
  } catch {
    /* going to sign-in regardless */
  }
  leaving = true;
  location.assign('/web/sign-in');
}

/**
 * Creates an element. attrs: class, text, title, testid, data (object), any other attribute
 * (booleans set/omit it). Children: nodes or strings. Never takes event handler attributes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key === 'data') for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    else if (key.startsWith('on')) throw new Error('el(): use addEventListener');
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Fills the page's header bar: title, who is signed in, nav links, sign-out. */
export function mountHeader(sess, active, { beforeSignOut } = {}) {
  const header = document.getElementById('station-header');
  if (!header) return;
  const link = (href, label, key) =>
    el('a', { href, class: key === active ? 'nav-link active' : 'nav-link', 'aria-current': key === active ? 'page' : null }, label);
  const nav = el('nav', { class: 'nav', 'aria-label': 'Station pages' }, link('/web/worklist', 'Worklist', 'worklist'));
  if (sess.role === 'admin') nav.append(link('/web/admin', 'Admin', 'admin'));
  const out = el('button', { type: 'button', class: 'btn btn-quiet', testid: 'sign-out' }, 'Sign out');
  out.addEventListener('click', async () => {
    out.disabled = true;
    if (beforeSignOut) {
      try {
        await beforeSignOut();
      } catch {
        /* signing out regardless */
      }
    }
    await signOut();
  });
  header.replaceChildren(
    el('div', { class: 'brand' }, 'Granska reading station'),
    nav,
    el('div', { class: 'who' },
      el('span', { class: 'who-name', text: sess.principal }),
      el('span', { class: 'role-badge', text: sess.role })),
    out,
  );
}

/** Shows an error in the page's banner (#page-error); ignores errors that are redirecting. */
export function showError(error, banner = document.getElementById('page-error')) {
  if (!banner) return;
  if (error && error.redirecting) return;
  const message = typeof error === 'string' ? error : describeError(error);
  banner.textContent = message;
  banner.hidden = false;
}

export function clearError(banner = document.getElementById('page-error')) {
  if (!banner) return;
  banner.textContent = '';
  banner.hidden = true;
}

/** A reader-facing message for an error. */
export function describeError(error) {
  if (!error) return 'Something went wrong.';
  if (error instanceof ApiError) {
    if (error.status === 0) return error.message;
    if (error.status === 403) return `Not allowed: ${error.message}`;
    return error.message;
  }
  if (error instanceof TypeError) return NETWORK_MESSAGE;
  return error.message || String(error);
}

/** How long ago, in words: "<1 min", "12 min", "3 h 05 min", "2 d 4 h". */
export function humanDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return '<1 min';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`;
  const days = Math.floor(hours / 24);
  return `${days} d ${hours % 24} h`;
}

/** A clock time (and the date when it is not today). */
export function formatTime(unixMs) {
  if (!Number.isFinite(unixMs)) return '—';
  const d = new Date(unixMs);
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString()} ${time}`;
}

/** The last characters of a UID, for a compact column. */
export function shortUid(uid, n = 12) {
  if (!uid) return '';
  return uid.length > n ? `…${uid.slice(-n)}` : uid;
}

/** Whether a key event comes from a text field (where letter shortcuts must not fire). */
export function isTyping(event) {
  const t = event.target;
  if (!(t instanceof Element)) return false;
  if (t.isContentEditable) return true;
  const tag = t.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = (t.getAttribute('type') || 'text').toLowerCase();
    return !['button', 'checkbox', 'radio', 'submit', 'reset', 'range'].includes(type);
  }
  return false;
}

/** Labels for task kinds. */
export const TASK_KIND = {
  first: 'First read',
  second: 'Second read (independent)',
  consensus: 'Consensus',
};

/** A random v4 UUID (crypto.randomUUID needs a secure context; this does not). */
export function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') {
    try {
      return crypto.randomUUID();
    } catch {
      /* not a secure context */
    }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Common page start: session, header; a failure is shown in the banner. */
export async function startPage(active, options) {
  try {
    const sess = await loadSession();
    mountHeader(sess, active, options);
    return sess;
  } catch (e) {
    showError(e);
    return null;
  }
}

const MODE = { single: 'Single', double: 'Double' };
const STATUS = { scored: 'Scored', unscorable: 'Could not be scored', incomplete: 'Incomplete' };

/** Table cells for one exam (worklist and admin's overdue list), in the worklist's column order. */
export function examCells(exam, now = Date.now()) {
  const flags = exam.flags || [];
  const high = exam.category === 10 || flags.includes('extra-high');
  const category = exam.category === null || exam.category === undefined
    ? el('span', { class: 'muted', title: 'No AI category (not scored, or AI display is off)' }, '—')
    : el('span', { class: high ? 'category high' : 'category', title: `AI category ${exam.category} of 10` }, String(exam.category));
  const tasks = (exam.tasks || []).map((t) =>
    el('span', { class: 'task', data: { taskId: t.task_id, state: t.state } },
      el('span', { class: 'kind' }, t.kind), ' ',
      el('span', { class: 'state' }, t.state),
      t.held_by_you ? el('span', { class: 'yours', title: 'You hold this task' }, 'yours') : null));
  const status = el('td', { class: 'status' });
  if (exam.overdue) status.append(el('span', { class: 'overdue-mark', title: 'Waiting longer than the policy allows' }, 'Overdue'));
  status.append(el('span', {}, STATUS[exam.status] || exam.status || ''));
  if (exam.reason) status.append(el('div', { class: 'reason' }, exam.reason));
  const since = Number(exam.waiting_since_unix_ms);
  return [
    el('td', { class: 'uid', title: exam.study_uid }, shortUid(exam.study_uid)),
    el('td', { class: 'num' }, category),
    el('td', {}, MODE[exam.reading_mode] || exam.reading_mode || ''),
    el('td', {}, flags.length ? flags.map((f) => el('span', { class: f === 'extra-high' ? 'flag extra-high' : 'flag' }, f)) : el('span', { class: 'muted' }, '—')),
    el('td', {}, tasks.length ? tasks : el('span', { class: 'muted' }, '—')),
    el('td', { data: { since }, title: Number.isFinite(since) ? `since ${formatTime(since)}` : null }, humanDuration(now - since)),
    status,
  ];
}
