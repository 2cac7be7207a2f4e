"""Drives the reading station in Debian's Chromium with Playwright, for the station's tests
(crates/granska/tests/it/station.rs) and its benchmark (benches/station-read-next.sh).

    python station.py SCENARIO '{"url": "http://127.0.0.1:PORT", ...}'

Each scenario prints what it saw as JSON lines on stdout (the Rust test asserts on them) and
reads lines on stdin where the test must act in between (push an exam over gRPC). Nothing here
decides pass or fail beyond waiting for what the page must show within a time limit.
"""

import json
import statistics
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
# this closed network refuses (see the machine notes); root needs --no-sandbox.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000


def say(**what):
    print(json.dumps(what), flush=True)


def tid(name):
    return f'[data-testid="{name}"]'


VIEWS = ["R-CC", "L-CC", "R-MLO", "L-MLO"]

# Pixel statistics of a view's canvas as drawn: mean, spread, non-black share, the mean of the
# outer quarter on each side (where the chest wall is), and "detail": the mean absolute
# difference of horizontal neighbours inside the breast in the canvas's central half, which
# grows when native pixels replace a smoothed, downscaled picture.
STATS_JS = """(id) => {
  const c = document.querySelector(`[data-testid="${id}"]`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const w = c.width, h = c.height;
  let sum = 0, sq = 0, lit = 0, left = 0, right = 0, nl = 0, nr = 0, det = 0, nd = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = d[(y * w + x) * 4];
      sum += v; sq += v * v; if (v > 10) lit++;
      if (x < w / 4) { left += v; nl++; } else if (x >= w - w / 4) { right += v; nr++; }
      if (x > w / 4 && x < 3 * w / 4 && y > h / 4 && y < 3 * h / 4 && x + 1 < w) {
        const u = d[(y * w + x + 1) * 4];
        if (v > 10 && u > 10) { det += Math.abs(u - v); nd++; }
      }
    }
  }
  const n = w * h, mean = sum / n;
  const r = c.getBoundingClientRect();
  return { width: w, height: h, mean, std: Math.sqrt(sq / n - mean * mean), lit: lit / n,
           left: left / Math.max(nl, 1), right: right / Math.max(nr, 1), detail: det / Math.max(nd, 1),
           x: r.x, y: r.y, drawn: c.dataset.drawn === 'true', zoom: Number(c.dataset.zoom),
           window_width: Number(c.dataset.windowWidth), window_center: Number(c.dataset.windowCenter),
           flipped: c.dataset.flipped };
}"""


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def new_page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, errors


def sign_in(page, url, token):
    page.goto(f"{url}/web/sign-in")
    page.fill(tid("token-input"), token)
    page.click(tid("sign-in"))
    page.wait_for_url("**/web/worklist", timeout=WAIT_MS)


def read_next(page):
    """Clicks Read next on the worklist; waits until the four views are drawn."""
    started = time.perf_counter()
    page.click(tid("read-next"))
    page.wait_for_selector('body[data-views-drawn="4"]', timeout=WAIT_MS)
    return time.perf_counter() - started


def submit(page, decision, note):
    page.click(tid(f"decision-{decision}"))
    if note:
        page.fill("textarea", note)
    page.click(tid("submit-read"))
    page.wait_for_selector('body[data-submitted="true"]', timeout=WAIT_MS)


def stats(page):
    return {v: page.evaluate(STATS_JS, f"view-{v}") for v in VIEWS}


def worklist(cfg):
    """The rows in order; then a study pushed meanwhile appears without a reload."""
    with sync_playwright() as p:
        browser = launch(p)
        _, page, errors = new_page(browser)
        sign_in(page, cfg["url"], cfg["token"])
        page.wait_for_selector(tid("worklist-row"), timeout=WAIT_MS)
        rows = page.eval_on_selector_all(tid("worklist-row"), "rs => rs.map(r => r.dataset.studyUid)")
        loads = []
        page.on("load", lambda: loads.append(1))
        say(rows=rows)
        pushed = sys.stdin.readline().split()[-1]
        page.wait_for_selector(f'{tid("worklist-row")}[data-study-uid="{pushed}"]', timeout=WAIT_MS)
        if cfg.get("screenshot"):
            page.screenshot(path=cfg["screenshot"])
        say(appeared=pushed, reloads=len(loads), errors=errors)
        browser.close()


def read(cfg):
    """Read next → four views; window/level; zoom; a decision submitted."""
    with sync_playwright() as p:
        browser = launch(p)
        _, page, errors = new_page(browser)
        sign_in(page, cfg["url"], cfg["token"])
        seconds = read_next(page)
        study = page.evaluate("document.body.dataset.studyUid || null")
        task = page.evaluate("document.body.dataset.taskId")
        fitted = stats(page)
        if cfg.get("screenshot"):
            page.screenshot(path=cfg["screenshot"])
        # Window/level: a drag on R-CC changes every view's window and its pixels.
        box = page.locator(tid("view-R-CC")).bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + 150, cy + 80, steps=8)
        page.mouse.up()
        page.wait_for_timeout(300)
        levelled = stats(page)
        # Zoom to native pixels (key z): more detail than the fitted view.
        page.keyboard.press("z")
        page.wait_for_timeout(300)
        zoomed = stats(page)
        ai = page.locator(tid("ai-category")).inner_text() if page.locator(tid("ai-category")).count() else None
        submit(page, "recall", cfg.get("note", ""))
        say(seconds=seconds, study_uid=study, task_id=task, fitted=fitted, levelled=levelled, zoomed=zoomed,
            ai=ai, errors=errors)
        browser.close()


def blind(cfg):
    """Double reading: the second reader's page never holds the first read; discordant reads
    make a consensus task whose page shows both."""
    note_a, note_b = cfg["note_a"], cfg["note_b"]
    with sync_playwright() as p:
        browser = launch(p)
        _, a, errors = new_page(browser)
        sign_in(a, cfg["url"], cfg["tokens"][0])
        read_next(a)
        submit(a, "recall", note_a)

        _, b, errors_b = new_page(browser)
        bodies = []

        def keep(response):
            # Every API answer the second reader's page received (the views are pixels).
            if "/web/api/" in response.url and "/views/" not in response.url and "/events" not in response.url:
                try:
                    bodies.append(response.text())
                except Exception:  # no body: 204, 304
                    pass

        b.on("response", keep)
        sign_in(b, cfg["url"], cfg["tokens"][1])
        read_next(b)
        seen = b.content() + "".join(bodies)
        other_b = b.locator(tid("other-read")).count()
        submit(b, "no-recall", note_b)
        after_b = b.content()

        _, c, errors_c = new_page(browser)
        sign_in(c, cfg["url"], cfg["tokens"][2])
        read_next(c)
        others = c.locator(tid("other-read")).all_inner_texts()
        if cfg.get("screenshot"):
            c.screenshot(path=cfg["screenshot"])
        say(second_saw_note_a=note_a in seen, second_other_reads=other_b,
            second_saw_note_a_after_submit=note_a in after_b,
            consensus_kind=c.evaluate("document.body.dataset.taskKind || null"),
            consensus_other_reads=others, errors=errors + errors_b + errors_c)
        browser.close()


def security(cfg):
    """Redirect without a session, cookie flags, CSRF, another exam's image, a PACS token."""
    url = cfg["url"]
    with sync_playwright() as p:
        browser = launch(p)
        context, page, _ = new_page(browser)
        page.goto(f"{url}/web/worklist")
        redirected_to = page.url
        page.fill(tid("token-input"), cfg["pacs_token"])
        page.click(tid("sign-in"))
        page.wait_for_timeout(500)
        pacs_url = page.url
        pacs_text = page.inner_text("body")
        sign_in(page, url, cfg["token"])
        cookie = next(c for c in context.cookies() if c["name"] == "granska_session")
        no_csrf = page.evaluate("fetch('/web/api/claim-next', {method: 'POST'}).then(r => r.status)")
        image = page.evaluate("(u) => fetch(u).then(r => r.status)", cfg["foreign_view"])
        say(redirected_to=redirected_to, pacs_url=pacs_url, pacs_text=pacs_text,
            cookie={k: cookie[k] for k in ("httpOnly", "sameSite", "secure")},
            no_csrf_status=no_csrf, foreign_image_status=image)
        browser.close()


def bench(cfg):
    """"Read next" → four views drawn, `count` times (a decision submitted after each), and
    the bytes of the views transferred per exam."""
    with sync_playwright() as p:
        browser = launch(p)
        _, page, errors = new_page(browser)
        sign_in(page, cfg["url"], cfg["token"])
        times, sizes = [], []
        for _ in range(cfg.get("count", 20)):
            page.goto(f"{cfg['url']}/web/worklist")
            page.wait_for_selector(tid("read-next"))
            times.append(read_next(page))
            sizes.append(page.evaluate(
                "performance.getEntriesByType('resource').filter(e => e.name.includes('/views/'))"
                ".reduce((s, e) => s + e.transferSize, 0)"))
            submit(page, "no-recall", "")
        say(seconds=times, median_s=statistics.median(times), bytes_per_exam=statistics.median(sizes),
            errors=errors)
        browser.close()


if __name__ == "__main__":
    scenario, cfg = sys.argv[1], json.loads(sys.argv[2])
    {"worklist": worklist, "read": read, "blind": blind, "security": security, "bench": bench}[scenario](cfg)
