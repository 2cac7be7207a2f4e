// Sign-in: exchanges an access token for a session cookie, then goes on to `next`.
import { NETWORK_MESSAGE, errorText } from '/web/assets/station.js';

const form = document.getElementById('sign-in-form');
const input = document.getElementById('token');
const button = form.querySelector('button[type="submit"]');
const errorBox = document.getElementById('sign-in-error');

/** Where to go after signing in: `next` when it is a station path, else the worklist. */
function destination() {
  const next = new URLSearchParams(location.search).get('next');
  if (next && next.startsWith('/web/') && !next.startsWith('//') && !next.startsWith('/web/sign-in')) return next;
  return '/web/worklist';
}

function fail(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
  input.select();
}

let leaving = false;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  input.removeAttribute('aria-invalid');
  const token = input.value.trim();
  if (!token) {
    fail('Enter your access token.');
    return;
  }
  button.disabled = true;
  button.textContent = 'Signing in…';
  try {
    let res;
    try {
      res = await fetch('/web/sign-in', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `token=${encodeURIComponent(token)}`,
        credentials: 'same-origin',
      });
    } catch {
      fail(NETWORK_MESSAGE);
      return;
    }
    if (res.ok) {
      await res.text().catch(() => '');
      input.value = '';
      leaving = true;
      location.assign(destination());
      return;
    }
    const text = await errorText(res);
    if (res.status === 401) fail(`Sign-in refused: ${text}`);
    else if (res.status === 403) fail(`Not allowed: ${text}`);
    else fail(`Sign-in failed: ${text}`);
  } finally {
    if (!leaving) {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  }
});
