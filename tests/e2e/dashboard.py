"""Drive pmx web's dashboard in headless Debian Chromium (tests/e2e/dashboard.rs).

usage: dashboard.py URL SHOT_DIR MODE APP
  URL       where to open the page (with ?token=… when the service needs one)
  SHOT_DIR  where the screenshots go
  MODE      "full": list, memory, restart APP, screenshots, the 390 px viewport;
            "look": the list and a memory figure only;
            "kill": once live, SIGKILL the daemon whose pid is APP, and wait for the
            page to say the daemon is unreachable
  APP       the app whose restart button is clicked (the daemon's pid with "kill")

Prints one JSON object per step on stdout; exits non-zero (with the reason on stderr)
when a step's condition is not met within its deadline.
"""
import json
import os
import signal
import sys

from playwright.sync_api import sync_playwright

URL, SHOTS, MODE, APP = sys.argv[1:5]
DEADLINE_MS = 30_000
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # No crash handler: it detaches from the browser's process tree.
    "--disable-crash-reporter", "--disable-breakpad",
]
MEMORY = r"/^\d+(\.\d+)? (B|KiB|MiB|GiB)$/"


def say(**kw):
    print(json.dumps(kw), flush=True)


def row_text(page, name, cls):
    return page.inner_text(f'#rows tr[data-name="{name}"] td.{cls}')


def names(page):
    return page.eval_on_selector_all("#rows tr", "trs => trs.map(t => t.dataset.name)")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(DEADLINE_MS)
    page.goto(URL)
    say(step="loaded", url=page.url, title=page.title())
    # Every running row shows a memory figure (the daemon samples while the page asks).
    page.wait_for_function(
        f"""() => {{
            const rows = [...document.querySelectorAll('#rows tr')];
            return rows.length >= 2 && rows.filter(r => r.dataset.status === 'online')
                .every(r => {MEMORY}.test(r.querySelector('td.c-mem').textContent));
        }}""",
        timeout=DEADLINE_MS,
    )
    memory = {n: row_text(page, n, "c-mem") for n in names(page)}
    say(step="listed", names=names(page), memory=memory)
    if MODE == "full":
        page.click(f'#rows tr[data-name="{APP}"]')
        page.wait_for_function(f"() => document.getElementById('d-name').textContent === {json.dumps(APP)}")
        before = row_text(page, APP, "c-pid")
        say(step="selected", app=APP, pid=before)
        # The page follows GET /api/events (log lines and lifecycle events as they happen).
        page.wait_for_function("() => document.getElementById('link-text').textContent === 'live'")
        say(step="live")
        page.click('.actions button[data-action="restart"]')
        page.wait_for_function(
            f"""() => {{
                const tr = document.querySelector('#rows tr[data-name={json.dumps(APP)}]');
                const pid = tr.querySelector('td.c-pid').textContent;
                return tr.dataset.status === 'online' && /^\\d+$/.test(pid) && pid !== {json.dumps(before)};
            }}"""
        )
        after = row_text(page, APP, "c-pid")
        say(step="restarted", app=APP, before=before, after=after,
            restarts=row_text(page, APP, "c-restarts"))
        # A failed action shows the daemon's message: the stop is sent to an id that
        # does not exist (the request rewritten on its way), and the real answer is shown.
        page.route(
            "**/api/processes/*/stop",
            lambda route: route.continue_(url=route.request.url.rsplit("/", 2)[0] + "/999999/stop"),
        )
        page.click('.actions button[data-action="stop"]')
        page.wait_for_selector("#notice", state="visible")
        say(step="failed", notice=page.inner_text("#notice-text"))
        page.unroute("**/api/processes/*/stop")
        page.click("#notice-close")
        # Both charts drawn and a log line shown before the picture is taken.
        page.wait_for_selector("#chart-mem path.line", state="attached")
        # The new process's first line (the fixture prints its pid) reaches the log view.
        page.wait_for_function(f"() => document.getElementById('logs').textContent.includes('sleeper {after}')")
        page.mouse.move(0, 0)
        page.screenshot(path=f"{SHOTS}/dashboard.png")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)  # a layout pass at the new width
        overflow = page.evaluate(
            "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth})"
        )
        page.screenshot(path=f"{SHOTS}/phone.png", full_page=True)
        say(step="phone", **overflow)
    if MODE == "kill":
        page.wait_for_function("() => document.getElementById('link-text').textContent === 'live'")
        say(step="live")
        os.kill(int(APP), signal.SIGKILL)
        # The port stays held (the fd holder keeps it): nothing refuses, reads time out.
        page.wait_for_function(
            "() => document.getElementById('link-text').textContent === 'daemon unreachable'",
            timeout=DEADLINE_MS,
        )
        say(step="unreachable")
    say(step="done", errors=errors, link=page.inner_text("#link-text"))
    browser.close()
