// Worklist: the reader's exams in the core's priority order, kept live by server-sent events.
import {
  api, clearError, el, examCells, humanDuration, isTyping, loadSession, showError, startPage,
} from '/web/assets/station.js';

const body = document.getElementById('worklist-body');
const table = document.getElementById('worklist-table');
const empty = document.getElementById('worklist-empty');
const loading = document.getElementById('worklist-loading');
const summary = document.getElementById('summary');
const live = document.getElementById('live');
const readNext = document.getElementById('read-next');

const PAGE = 200;
const MAX_PAGES = 10;

let exams = [];
let fetching = null;
let again = false;

/** Fetches every page of the worklist (in order), then renders it. */
async function refresh() {
  if (fetching) {
    again = true;
    return fetching;
  }
  fetching = (async () => {
    try {
      const all = [];
      let offset = 0;
      for (let page = 0; page < MAX_PAGES && offset !== null && offset !== undefined; page += 1) {
        const data = await api(`/web/api/worklist?offset=${offset}&limit=${PAGE}`);
        all.push(...(data.exams || []));
        offset = data.next_offset;
      }
      exams = all;
      render();
      clearError();
    } catch (e) {
      showError(e);
    } finally {
      loading.hidden = true;
      fetching = null;
      if (again) {
        again = false;
        refresh();
      }
    }
  })();
  return fetching;
}

function render() {
  const now = Date.now();
  const rows = exams.map((exam) => el('tr', { testid: 'worklist-row', data: { studyUid: exam.study_uid } }, examCells(exam, now)));
  body.replaceChildren(...rows);
  empty.hidden = exams.length > 0;
  table.hidden = exams.length === 0;
  const yours = exams.filter((e) => (e.tasks || []).some((t) => t.available_to_you && t.state === 'queued')).length;
  summary.textContent = `${exams.length} exam${exams.length === 1 ? '' : 's'}` + (exams.length ? ` · ${yours} with a read available to you` : '');
}

/** Refreshes the "waiting" column without refetching. */
function tickWaiting() {
  const now = Date.now();
  for (const cell of body.querySelectorAll('td[data-since]')) {
    cell.textContent = humanDuration(now - Number(cell.dataset.since));
  }
}

let timer = 0;
function soon() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 150);
}

function setLive(state, text) {
  live.dataset.state = state;
  live.textContent = text;
}

/** The change feed: any change refetches the worklist (debounced). */
function connect() {
  const source = new EventSource('/web/api/events');
  let opened = false;
  source.addEventListener('open', () => {
    setLive('live', 'live');
    if (opened) soon(); // reconnected: changes may have been missed
    opened = true;
  });
  source.addEventListener('change', soon);
  source.addEventListener('error', () => {
    setLive('reconnecting', 'reconnecting…');
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      // The server refused the stream (e.g. the session ended): check, then try again.
      setTimeout(async () => {
        try {
          await loadSession();
          soon();
          connect();
        } catch (e) {
          showError(e);
          setTimeout(connect, 10000);
        }
      }, 3000);
    }
  });
}

document.addEventListener('keydown', (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
  if (event.key === 'n' || event.key === 'N') {
    event.preventDefault();
    readNext.click();
  }
});

async function main() {
  const sess = await startPage('worklist');
  if (!sess) {
    loading.hidden = true;
    return;
  }
  table.hidden = true;
  await refresh();
  connect();
  setInterval(tickWaiting, 30000);
  // A safety net for a feed that stays silent (a buffering proxy): refetch every five minutes.
  setInterval(refresh, 300000);
}

main();
