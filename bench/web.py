"""`make bench` (web): time from sending a message to the first token painted in the page.

Starts ``cw serve --demo`` on a loopback port with the demo model unpaced
(``CW_DEMO_DELAY=0``, the ``fake`` backend), opens the page in headless Chromium
(``/usr/bin/chromium``, or ``CW_CHROMIUM``), starts a conversation with the seeded "Demo tour"
agent and sends the same message ``--runs`` times. Each figure runs from the Send click to
the paint of the reply's first text (the page writes text in an animation-frame callback; a
task queued from that frame runs after its paint), measured in the page with
``performance.now()``. It covers the whole path: the POST, the run starting in the
background, the model's first chunk through the real adapter, the event written to the
database log, the SSE stream, parsing and markdown rendering.

Usage: ``python -m bench.web [--runs N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

CHROMIUM = Path(os.environ.get("CW_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]

SEND_AND_TIME = """async () => {
    const messages = document.getElementById('messages');
    const before = messages.querySelectorAll('.msg.assistant').length;
    const painted = new Promise((resolve) => {
        const observer = new MutationObserver(() => {
            const replies = messages.querySelectorAll('.msg.assistant .content');
            if (replies.length > before && replies[replies.length - 1].textContent.length > 0) {
                observer.disconnect();
                // The page writes text in an animation-frame callback; that frame is painted
                // before any task queued now runs.
                setTimeout(() => resolve(performance.now()), 0);
            }
        });
        observer.observe(messages, { subtree: true, childList: true, characterData: true });
    });
    document.getElementById('message').value = 'hello';
    const start = performance.now();
    document.getElementById('send').click();
    const end = await painted;
    const posts = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/messages'));
    const accepted = posts.length ? posts[posts.length - 1].responseEnd - start : null;
    return { painted: end - start, accepted };
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    log = folder / "serve.log"
    env = {
        **os.environ,
        "CW_DEMO_DELAY": "0",
        "CW_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "HUGGINGFACE_API_KEY": "",
        "OLLAMA_BASE_URL": "",
        "CW_WORKSPACE": "",
    }
    cw = Path(sys.executable).with_name("cw")
    command = [str(cw), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"cw serve --demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/api/v1/ai-backends", timeout=2).status_code == 401:
                return process, url, log
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise SystemExit(f"cw serve --demo did not answer:\n{log.read_text()}")
        time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="messages sent (after 3 warm-up ones)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        print(f"\n== web: skipped, no Chromium at {CHROMIUM} (apt-get install -y chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="cw-bench-web-") as folder:
        process, _url, log = _start(Path(folder))
        try:
            link = re.search(r"open (http://\S+/#token=\S+)", log.read_text())
            if link is None:
                raise SystemExit(f"no sign-in link in the output of cw serve --demo:\n{log.read_text()}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
                page = browser.new_page()
                page.goto(link.group(1))
                page.get_by_role("link", name="Demo tour", exact=True).click()
                page.get_by_role("button", name="New conversation").click()
                page.wait_for_selector("#message")
                done = "() => document.getElementById('run-status').textContent === 'Done'"
                figures: list[float] = []
                accepted: list[float] = []
                for run in range(args.runs + 3):
                    timing = page.evaluate(SEND_AND_TIME)
                    page.wait_for_function(done)
                    if run >= 3:
                        figures.append(timing["painted"])
                        if timing["accepted"] is not None:
                            accepted.append(timing["accepted"])
                version = browser.version
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=15)
    figures.sort()
    p50 = statistics.median(figures)
    p90 = figures[min(len(figures) - 1, int(len(figures) * 0.9))]
    title = "Send click → first token painted (cw serve --demo, fake backend, Chromium"
    print(f"\n== web: {title} {version})")
    print(
        f"  runs {len(figures)}   p50 {p50:.1f} ms   p90 {p90:.1f} ms   "
        f"min {figures[0]:.1f} ms   max {figures[-1]:.1f} ms"
    )
    if accepted:
        median = statistics.median(accepted)
        print(f"  of which the POST /messages answer (202) arrived at p50 {median:.1f} ms")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"runs": len(figures), "p50_ms": p50, "p90_ms": p90, "all_ms": figures, "post_ms": accepted},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
