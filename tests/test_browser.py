"""The built HTML book in a real headless browser (Chromium via Playwright).

Checks that the pages request nothing from any host but the local server and log no console
errors, that the static eps slider on the toy page works the way a user moves it, and that the
front page carries the reproduction scorecard.

Needs Chromium at /usr/bin/chromium (or $LEAKLAB_CHROMIUM); CI installs it, so a missing or
broken browser is a failure, not a skip.
"""
import functools
import http.server
import os
import re
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import pytest
from tiny import TINY

HOST = "127.0.0.1"
CHROMIUM = os.environ.get("LEAKLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium itself phones home (component updates, sync, ...): that traffic
    # is the browser's, not the page's.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 15_000
SCORE = re.compile(r"new net:\s*<b>\s*(\d+)\s*/\s*(\d+)\s*</b>\s*correct")
VERDICTS = ("effect reproduced", "not reproduced", "reproduced")


# ------------------------------------------------------------------------------------ fixtures


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """Serve the built HTML on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.fail(f"the playwright Python package is not installed: {e}", pytrace=False)
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM} (install it, or set LEAKLAB_CHROMIUM)", pytrace=False)
    pw = sync_playwright().start()
    try:
        try:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000)
        except Exception as e:
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {type(e).__name__}: {e}", pytrace=False)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


class _Watch:
    """What a page does that these tests forbid: requests to anywhere but the local server,
    console errors, uncaught page errors, failed requests and HTTP errors."""

    def __init__(self, page, base):
        self.page = page
        self.netloc = urlsplit(base).netloc
        self.requests = []
        self.problems = []
        self.in_flight = set()

        def on_request(req):
            self.requests.append(req.url)
            self.in_flight.add(req)
            if not self.is_local(req.url):
                self.problems.append(f"external request: {req.method} {req.url}")

        def on_failed(req):
            self.in_flight.discard(req)
            if self.is_local(req.url):  # a foreign one is reported (and aborted) already
                self.problems.append(f"request failed: {req.url}: {req.failure}")

        def on_console(msg):
            if msg.type == "error":
                loc = msg.location or {}
                self.problems.append(f"console error: {msg.text} (at {loc.get('url')}:{loc.get('lineNumber')})")

        def on_response(resp):
            if resp.status >= 400:
                self.problems.append(f"HTTP {resp.status}: {resp.url}")

        page.on("request", on_request)
        page.on("requestfinished", lambda req: self.in_flight.discard(req))
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))

    def is_local(self, url):
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return parts.scheme == "http" and parts.hostname == HOST and parts.netloc == self.netloc

    def wait_quiet(self, quiet_ms=500, timeout_ms=TIMEOUT_MS):
        """Wait until no request has been in flight for quiet_ms: network idle, counted here
        because Playwright's own "networkidle" can miss it across the front page's redirect."""
        waited = quiet = 0
        while quiet < quiet_ms:
            assert waited < timeout_ms, (
                f"network not idle after {timeout_ms} ms; in flight: {sorted(r.url for r in self.in_flight)}")
            self.page.wait_for_timeout(50)
            waited += 50
            quiet = 0 if self.in_flight else quiet + 50

    def check(self, what):
        self.wait_quiet()
        assert not self.problems, f"{what}:\n  " + "\n  ".join(self.problems)


@pytest.fixture
def open_page(browser, site):
    """open_page(path) -> (page, watch): the page in a fresh browser context, redirect followed,
    loaded and settled (MathJax done, network idle), everything it does recorded."""
    contexts = []

    def _open(path):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        contexts.append(ctx)
        ctx.set_default_timeout(TIMEOUT_MS)
        page = ctx.new_page()
        watch = _Watch(page, site)
        # A request for another host is recorded as a problem (above), then aborted, so that it
        # can never hang on DNS or reach anything.
        ctx.route(lambda url: not watch.is_local(url), lambda route: route.abort())
        url = urljoin(site + "/", path.lstrip("/"))
        with urllib.request.urlopen(url, timeout=10) as r:  # is it a redirect stub?
            redirect = re.search(r"<meta[^>]+http-equiv=[\"']?refresh", r.read().decode("utf-8", "replace"), re.I)
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        if redirect:
            page.wait_for_url(lambda u: u != url)
            page.wait_for_load_state("load")
        page.evaluate("""async () => {
            const mj = window.MathJax;
            if (mj && mj.startup && mj.startup.promise) await mj.startup.promise;
            if (document.fonts) await document.fonts.ready;
        }""")
        watch.wait_quiet()
        return page, watch

    yield _open
    for ctx in contexts:
        ctx.close()


# ---------------------------------------------------------------------- the toy page's slider


def _slider_state(page):
    return page.evaluate("""() => {
        const root = document.querySelector("div.leaklab-frame-slider");
        const img = root.querySelector("img.ll-frame");
        return {
            index: Number(root.querySelector("input.ll-range").value),
            value: root.querySelector("output.ll-value").textContent.trim(),
            caption: root.querySelector("div.ll-caption").innerHTML.trim(),
            src: img.getAttribute("src"),
            alt: img.getAttribute("alt"),
        };
    }""")


def _check_frame(page, state):
    """The frame on show is self-consistent, and its image really decodes."""
    assert re.fullmatch(r"-?\d+(\.\d+)?", state["value"]), f"eps shown is not a number: {state['value']!r}"
    m = SCORE.search(state["caption"])
    assert m, f"caption has no 'new net: <b>k/n</b> correct' score: {state['caption']!r}"
    assert 0 <= int(m.group(1)) <= int(m.group(2)) and int(m.group(2)) > 0, state["caption"]
    assert state["src"].startswith("data:image/png;base64,"), f"frame is not an inline PNG: {state['src'][:60]!r}"
    assert state["value"] in (state["alt"] or ""), f"img alt {state['alt']!r} does not name eps {state['value']}"
    page.wait_for_function("""() => {
        const img = document.querySelector("div.leaklab-frame-slider img.ll-frame");
        return img.complete && img.naturalWidth > 0;
    }""")


def test_toy_slider_moves_like_a_user(open_page):
    page, watch = open_page("/notebooks/toy2d.html")

    sliders = page.locator("div.leaklab-frame-slider")
    assert sliders.count() >= 1, "no static slider (div.leaklab-frame-slider) on the toy page"
    root = sliders.first
    for part in ("input.ll-range", "output.ll-value", "div.ll-caption", "img.ll-frame"):
        assert root.locator(part).count() == 1, f"the slider lacks its {part}"
    rng = root.locator("input.ll-range")
    assert rng.get_attribute("type") == "range"
    lo, hi = int(rng.get_attribute("min")), int(rng.get_attribute("max"))
    initial = int(rng.get_attribute("value"))
    assert lo == 0 and hi >= 3 and lo <= initial <= hi, (lo, initial, hi)

    # The first frame, before anything moves.
    first = _slider_state(page)
    assert first["index"] == initial
    _check_frame(page, first)

    seen = {initial: first}  # position -> what it showed
    prev = first

    def move(action):
        nonlocal prev
        action()
        page.wait_for_function(
            """old => document.querySelector("div.leaklab-frame-slider img.ll-frame").getAttribute("src") !== old""",
            arg=prev["src"])
        state = _slider_state(page)
        assert state["index"] != prev["index"], "the image changed but the slider did not move"
        assert state["value"] != prev["value"], \
            f"eps shown stayed {state['value']} from position {prev['index']} to {state['index']}"
        _check_frame(page, state)
        if state["index"] in seen:  # a position shows the same frame however we got there
            assert state == seen[state["index"]], f"position {state['index']} shows something else on a second visit"
        seen[state["index"]] = state
        prev = state
        return state

    def key(name):
        return lambda: page.keyboard.press(name)

    rng.focus()
    if initial == hi:
        move(key("Home"))
    for _ in range(3):
        if prev["index"] < hi:
            move(key("ArrowRight"))
    assert move(key("End"))["index"] == hi
    assert move(key("Home"))["index"] == lo
    # The mouse too: a click on the middle of the track.
    box = rng.bounding_box()
    move(lambda: page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
    assert lo < prev["index"] < hi
    # And back by keyboard to where the page started: the first frame again.
    rng.focus()
    move(key("Home"))
    while prev["index"] < initial:
        move(key("ArrowRight"))
    assert prev == first

    ordered = [seen[i] for i in sorted(seen)]
    eps = [float(s["value"]) for s in ordered]
    assert eps == sorted(set(eps)), f"eps does not grow along the slider: {eps}"
    assert len({s["src"] for s in ordered}) == len(ordered), "two positions show the same image"
    scores = {SCORE.search(s["caption"]).group(1, 2) for s in ordered}
    assert len(scores) >= 2, f"the new net's score is the same at all {len(ordered)} positions visited: {scores}"

    # The page's math is typeset by the vendored MathJax, with its fonts from the local server.
    if page.locator(".math").count():
        assert page.locator("mjx-container").count() > 0, "MathJax did not typeset the page's math"
        assert [u for u in watch.requests if "/_static/mathjax/" in u and ".woff" in u], \
            "no MathJax font came from the local server"

    watch.check("the toy page")


# ------------------------------------------------------------------- front page, every page


def test_front_page_scorecard(open_page):
    page, watch = open_page("/index.html")
    tables = [t for t in page.locator("table").all() if "toy2d" in t.inner_text()]
    assert tables, f"no table mentioning toy2d (the reproduction scorecard) on the front page ({page.url})"
    text = tables[0].inner_text().lower()
    assert any(v in text for v in VERDICTS), f"no verdict ({', '.join(VERDICTS)}) in the scorecard:\n{text}"
    assert "quick" in text, f"the scorecard does not say this build ran at the quick profile:\n{text}"
    watch.check("the front page")


def test_every_sidebar_page_is_clean(open_page):
    page, watch = open_page("/index.html")
    watch.check("the front page")
    hrefs = page.eval_on_selector_all("nav.bd-docs-nav a[href]", "as => as.map(a => a.href)")
    here = urlsplit(page.url)
    links = []
    for href in hrefs:
        p = urlsplit(href)
        assert (p.scheme, p.netloc) == (here.scheme, here.netloc), f"the sidebar links off the site: {href}"
        url = urlunsplit((p.scheme, p.netloc, p.path, p.query, ""))
        if url not in links:
            links.append(url)
    paths = [urlsplit(u).path for u in links]
    assert any(p.endswith("/notebooks/toy2d.html") for p in paths), f"the toy page is not in the sidebar: {paths}"

    failures = []
    for url in links:
        p, w = open_page(urlsplit(url).path)
        assert p.locator("article, main").count() and p.title(), f"{url} did not render"
        w.wait_quiet()
        if w.problems:
            failures.append(f"{url}:\n    " + "\n    ".join(w.problems))
        p.context.close()
    assert not failures, "pages in the sidebar that are not clean:\n  " + "\n  ".join(failures)


def test_fgsm_eps_slider_moves_and_its_frames_differ(open_page):
    page, watch = open_page("/notebooks/fgsm_leak.html")
    root = page.locator("div.leaklab-frame-slider")
    assert root.count() == 1, "no static eps slider on the fgsm_leak page"
    rng = root.locator("input.ll-range")
    hi = int(rng.get_attribute("max"))
    assert hi >= 4
    seen = {}
    rng.focus()
    for key in ["Home"] + ["ArrowRight"] * 2 + ["End"]:
        old, before = root.locator("img.ll-frame").get_attribute("src"), rng.evaluate("e => e.value")
        page.keyboard.press(key)
        if rng.evaluate("e => e.value") != before:
            page.wait_for_function(
                """old => document.querySelector("div.leaklab-frame-slider img.ll-frame").src !== old""",
                arg=old)
        value = root.locator("output.ll-value").inner_text()
        caption = root.locator("div.ll-caption").inner_text()
        assert re.search(r"eps = [\d.]+/255: \d/8 right; mean test loss [\d.]+", caption), caption
        assert value in caption
        seen[value] = root.locator("img.ll-frame").get_attribute("src")
    assert len(seen) == 4 and len(set(seen.values())) == 4, f"positions {list(seen)} do not show four frames"
    assert float(list(seen)[0]) == 0 and float(list(seen)[-1]) > float(list(seen)[1])
    watch.check("the fgsm_leak page")


# ------------------------------------------------------------ pages that read like a paper

# all six on every claim page, in this order
SECTIONS = ["The claim", "The setup", "At paper scale", "This build's run", "Move it yourself", "What it means"]
MAX_CODE_LINES = 15  # visible, non-blank lines of code beyond the parameters cell

PAGE_FACTS = """() => {
  const shown = e => e.checkVisibility();
  const article = document.querySelector('article') || document.body;
  const code = [...article.querySelectorAll('div.cell:not(.tag_parameters) .cell_input')].filter(shown)
    .map(e => e.innerText.split('\\n').filter(l => l.trim()).length);
  const raw = [...article.querySelectorAll('p, div.cell_output pre')].filter(shown).map(e => e.innerText)
    .filter(t => /^\\s*\\|.*\\|\\s*$/m.test(t) || /\\|\\s*:?-{3,}/.test(t)).map(t => t.slice(0, 120));
  const h2 = [...article.querySelectorAll('h2')]
    .map(h => h.innerText.replace(/[#¶]/g, '').replace('\u2019', "'").trim());
  const images = [...article.querySelectorAll('div.cell_output img')].filter(i => !i.closest('.leaklab-frame-slider'));
  const uncaptioned = images.filter(i => { const f = i.closest('figure');
    return !f || !f.querySelector('figcaption') || !f.querySelector('figcaption').innerText.trim(); }).length;
  const cites = [...article.querySelectorAll('a[href*="references.html"]')].length;
  return {code, raw, h2, images: images.length, uncaptioned, cites};
}"""


def test_claim_pages_read_like_a_paper(open_page):
    from leaklab import book

    problems = []
    for name in book.claim_notebooks():
        page, watch = open_page(f"/notebooks/{name}.html")
        f = page.evaluate(PAGE_FACTS)
        if f["raw"]:
            problems.append(f"{name}: raw table text instead of a table: {f['raw']}")
        if sum(f["code"]) > MAX_CODE_LINES:
            problems.append(f"{name}: {sum(f['code'])} visible lines of code beyond the parameters cell "
                            f"(cells: {f['code']}; at most {MAX_CODE_LINES})")
        expected = SECTIONS
        if f["h2"] != expected:
            problems.append(f"{name}: sections {f['h2']}, expected {expected}")
        if not f["images"] or f["uncaptioned"]:
            problems.append(f"{name}: {f['uncaptioned']} of {f['images']} figures without a caption")
        if not f["cites"]:
            problems.append(f"{name}: cites nothing in the references")
        watch.check(f"the {name} page")
        page.context.close()
    assert not problems, "\n".join(problems)


def test_no_code_line_is_cut_at_the_columns_edge(open_page):
    # issue 21.8: visible code lines and their comments ran past the column, their ends hidden
    from leaklab import book

    cut = {}
    for name in book.claim_notebooks():
        page, _ = open_page(f"/notebooks/{name}.html")
        wide = page.evaluate("""() => [...document.querySelectorAll("div.cell_input div.highlight pre")]
            .filter(pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1).length""")
        if wide:
            cut[name] = wide
        page.context.close()
    assert not cut, f"code blocks wider than their column, by page: {cut}"


def test_references_page_lists_the_cited_works(open_page):
    page, watch = open_page("/book/references.html")
    entries = page.locator("article .citation, article dl.citation > dt").count()
    assert entries >= 10, f"the references page lists {entries} works"
    text = page.locator("article").inner_text()
    assert "learning from incorrectly labeled data" in text.lower()
    assert "label leaking in adversarial training" in text.lower()
    watch.check("the references page")


def test_front_page_scorecard_reads_at_a_glance(open_page):
    page, watch = open_page("/index.html")
    f = page.evaluate(PAGE_FACTS)
    assert not f["raw"], f"raw table text on the front page: {f['raw']}"
    table = next(t for t in page.locator("table").all() if "toy2d" in t.inner_text())
    heads = [h.inner_text().strip() for h in table.locator("th").all()]
    assert heads[:3] == ["claim", "what", "paper"] and heads[-2:] == ["this build", "verdict"], heads
    box = table.bounding_box()
    text = page.locator("article section").first.bounding_box()  # the article's text column
    assert box["width"] >= 0.99 * text["width"] and text["width"] >= 900, (box, text)  # the page's full width
    # no column squeezed into a few words a line: each header on one line, no cell on more than three
    lines = table.evaluate("""t => [...t.querySelectorAll('th, td')].map(c => {
        // the lines a cell's text occupies: the distinct vertical positions of its text, a superscript
        // (a footnote mark) counting with the line it sits on
        const tops = [], walk = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
            const r = document.createRange(); r.selectNodeContents(n);
            for (const x of r.getClientRects()) if (x.width > 0) tops.push(x.bottom);
        }
        tops.sort((a, b) => a - b);
        const n = tops.filter((y, i) => i === 0 || y - tops[i - 1] > 10).length;
        return [c.tagName, c.innerText.trim(), n];
    })""")
    wrapped = [(tag, text, n) for tag, text, n in lines if n > (1 if tag == "TH" else 3)]
    assert not wrapped, f"scorecard cells wrapped onto too many lines: {wrapped}"
    watch.check("the front page")


# ------------------------------------------------------------- the live sliders, in a real JupyterLab

# Each chapter with a live slider, at parameters that run in seconds (its data must be here: `make test` sets it)
LIVE_CHAPTERS = {  # each page's slider compares what it draws: fgsm_leak two attack labels, leak_conditions two seeds
    "toy2d": TINY["toy2d"],
    "fgsm_leak": {**TINY["fgsm_leak"], "labels": "true,predicted"},
    "leak_conditions": {**TINY["leak_conditions"], "n_seeds": 2},
}
LIVE_OUTPUT = ".jp-Notebook .jp-OutputArea-output:has(.widget-slider)"  # the live slider's whole widget


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 (a free port, a fresh token) over a folder of the live chapters, each with
    its tiny parameters injected as papermill would and its live slider kept as `live_box`; yields (url, token, dir).
    A second copy of toy2d, `toy2d_disconnected`, unhooks its slider's callback after building it: the test must
    see that one fail."""
    import secrets
    import socket
    import subprocess
    import sys
    import time

    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path_factory.mktemp("lab")
    for name, params in LIVE_CHAPTERS.items():
        for variant in ("", "_disconnected") if name == "toy2d" else ("",):
            nb = parameterize_notebook(load_notebook_node(str(root / "notebooks" / f"{name}.ipynb")), params)
            (cell,) = [c for c in nb.cells if c.cell_type == "code" and "page.live_slider(" in c.source]
            cell.source = cell.source.replace("page.live_slider(", "live_box = page.live_slider(", 1)
            if variant:
                cell.source += "\nlive_box.eps_slider.unobserve_all()  # the slider moves, nothing is redrawn"
            cell.source += "\nlive_box"
            nbformat.write(nb, folder / f"{name}{variant}.ipynb")
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    log = folder / "jupyterlab.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.ip={HOST}", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--allow-root",
         "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run the notebook as its Run menu does
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "MPLBACKEND": "module://matplotlib_inline"
                                                                                          ".backend_inline"})
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}", pytrace=False)
                time.sleep(0.5)
        yield url, token, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def run_in_jupyterlab(browser, jupyterlab, name):
    """Open a notebook in JupyterLab, run all its cells in its kernel, wait until they are done; return the page."""
    url, token, _ = jupyterlab
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # a workspace of its own: JupyterLab would otherwise reopen the notebooks an earlier page had open
    page.goto(f"{url}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={token}")
    panel = f"[...window.jupyterapp.shell.widgets('main')].find(w => w.context?.path === '{name}.ipynb')"
    page.wait_for_function(f"window.jupyterapp && {panel}?.sessionContext?.session?.kernel?.status === 'idle'",
                           timeout=120_000, polling=500)
    page.evaluate(f"{panel}.content.activeCellIndex = 0")
    page.evaluate(f"window.jupyterapp.shell.activateById({panel}.id)")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(f"""(() => {{ const panel = {panel};
        const cells = panel.content.widgets.filter(c => c.model.type === 'code');
        return cells.every(c => c.model.executionCount !== null) &&
               panel.sessionContext.session.kernel.status === 'idle'; }})()""", timeout=600_000, polling=1000)
    errors = page.locator(".jp-Notebook [data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, f"{name}: a cell failed in JupyterLab:\n{errors.first.inner_text()[:3000]}"
    return page


def scroll_to_rest(page, element, tries=40):
    """Scroll an element to the middle of the window and wait until it stays there; return its box. JupyterLab
    renders a long notebook's cells lazily, and the heights it learns as they render move the element after a
    single scroll (a long chapter's slider ended 500 px below the window, where a drag moves nothing)."""
    height, last = page.viewport_size["height"], None
    for _ in range(tries):
        element.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(250)
        box = element.bounding_box()
        if box and last == box and 0 <= box["y"] and box["y"] + box["height"] <= height:
            return box
        last = box
    raise AssertionError(f"the element did not come to rest inside the window: {last}")


def drag_live_slider(page, pixels=150):
    """Drag the live slider's handle as a user would (press, move right, release); return (readout before, after,
    the widget's output before)."""
    widget = page.locator(LIVE_OUTPUT).last
    readout = widget.locator(".widget-readout").first

    def shown():  # the status line and the figure: what a move must change
        return widget.locator(".widget-html-content").all_inner_texts(), widget.locator(
            ".widget-output img").evaluate_all("imgs => imgs.map(i => i.src)")

    before, value_before = shown(), readout.inner_text()
    handle = widget.locator(".noUi-handle").first
    box = scroll_to_rest(page, handle)
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + pixels, y, steps=8)
    page.mouse.up()
    return value_before, readout, before, shown


@pytest.mark.book
@pytest.mark.parametrize("name", list(LIVE_CHAPTERS))
def test_each_live_slider_redraws_when_moved_in_jupyterlab(browser, jupyterlab, name):
    page = run_in_jupyterlab(browser, jupyterlab, name)
    try:
        assert page.locator(LIVE_OUTPUT).count() >= 1, f"{name}: no live slider was displayed"
        value_before, readout, before, shown = drag_live_slider(page)
        assert readout.inner_text() != value_before, "the drag did not move the slider"
        page.wait_for_function("([sel, before]) => { const w = [...document.querySelectorAll(sel)].pop();"
                               " const now = [...w.querySelectorAll('.widget-output img')].map(i => i.src);"
                               " return JSON.stringify(now) !== JSON.stringify(before); }",
                               arg=[LIVE_OUTPUT, before[1]], timeout=60_000, polling=250)
        assert shown()[1] and shown()[1] != before[1]
    finally:
        page.close()


@pytest.mark.book
def test_a_slider_whose_callback_is_disconnected_is_caught(browser, jupyterlab):
    """The check above, on a notebook whose slider moves but redraws nothing: it must see no change."""
    page = run_in_jupyterlab(browser, jupyterlab, "toy2d_disconnected")
    try:
        value_before, readout, before, shown = drag_live_slider(page)
        assert readout.inner_text() != value_before, "the drag did not move the slider"
        page.wait_for_timeout(5_000)  # longer than a connected toy slider takes to redraw
        assert shown() == before
    finally:
        page.close()
