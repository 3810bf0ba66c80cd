"""The page and its modules on their own: served by `mount_web` on a bare FastAPI app.

These need no API: they check what the server sends (the page, its security headers, the
shipped files) and, in Chromium, the pure modules — the markdown renderer with hostile
model output, the SSE parser against every way a stream can be cut into reads, and the
stream follower's resume after a dropped connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.web import CONTENT_SECURITY_POLICY, STATIC_DIR, TEMPLATES_DIR, mount_web
from tests.web.conftest import open_page
from tests.web.servers import uvicorn_app


def _app() -> Any:
    import fastapi

    app = fastapi.FastAPI()
    mount_web(app)
    return app


@pytest.fixture(scope="module")
def static_url() -> Iterator[str]:
    with uvicorn_app(_app()) as url:
        yield url


@pytest.fixture(scope="module")
def module_page(browser: Any, static_url: str) -> Iterator[Any]:
    context, page, errors = open_page(browser)
    page.goto(static_url + "/#/login")
    page.wait_for_selector("#login-email")
    try:
        yield page
    finally:
        context.close()
    assert errors == []


# --- what the server sends -----------------------------------------------------------------


def test_the_page_is_served_with_a_strict_content_security_policy(static_url: str) -> None:
    # Over a real socket, not ASGITransport: an anyio test cannot run beside the sync browser.
    with httpx.Client(base_url=static_url, timeout=10) as client:
        page = client.get("/")
        script = client.get("/static/js/app.js")
        vendor = client.get("/static/vendor/purify.esm.js")
        missing = client.get("/static/js/nothing.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert re.search(r'<script type="module" src="/static/js/app\.js\?v=[0-9a-f]{12}"></script>', page.text)
    assert '<meta name="cw-builtin-tools" content="glob,grep,read">' in page.text
    for response in (script, vendor):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["cache-control"] == "no-cache"
    assert missing.status_code == 404


def test_nothing_is_loaded_from_another_origin() -> None:
    """Our files import only relative modules and name no other host (the vendored ones are pinned)."""
    own = [
        path
        for path in [*STATIC_DIR.rglob("*"), *TEMPLATES_DIR.rglob("*")]
        if path.is_file() and "vendor" not in path.parts
    ]
    assert {path.suffix for path in own} == {".js", ".css", ".html"}
    for path in own:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), path
        for target in re.findall(r'(?:import|from)\s*\(?\s*"([^"]+)"', text):
            assert target.startswith(("./", "../")), (path, target)
        assert "innerHTML" not in text or path.name == "markdown.js", path


# --- markdown: model output cannot inject HTML or script -------------------------------------

HOSTILE = [
    "<img src=x onerror=\"window.__xss = 'img'\">",
    "<script>window.__xss = 'script'</script>",
    "Hello <svg onload=\"window.__xss='svg'\"></svg> and "
    "<iframe src=\"javascript:window.__xss='iframe'\"></iframe>",
    "[click](javascript:window.__xss='link') and ![p](x \"t\" onerror=window.__xss='alt')",
    "<a href=\"javascript:window.__xss='a'\">a</a>"
    "<details open ontoggle=\"window.__xss='details'\"></details>",
    "```html\n<script>window.__xss='code'</script>\n```",
    "<style>body{display:none}</style><form action=/x><button>go</button></form>",
]


def test_markdown_renders_model_html_and_script_inert(module_page: Any) -> None:
    result = module_page.evaluate(
        """async (payloads) => {
            const { renderMarkdown } = await import('/static/js/markdown.js');
            const box = document.createElement('div');
            document.body.appendChild(box);
            const out = [];
            for (const text of payloads) {
                box.innerHTML = renderMarkdown(text);
                out.push({
                    text: box.textContent,
                    active: box.querySelectorAll('script,img,svg,iframe,style,form,button,details').length,
                    handlers: [...box.querySelectorAll('*')].filter(
                        (el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
                    scriptLinks: [...box.querySelectorAll('[href],[src]')].filter(
                        (el) => /^\\s*javascript:/i.test(
                            el.getAttribute('href') || el.getAttribute('src') || '')).length,
                });
            }
            await new Promise((resolve) => setTimeout(resolve, 200));
            box.remove();
            return { out, xss: window.__xss ?? null };
        }""",
        HOSTILE,
    )
    assert result["xss"] is None
    for payload, shown in zip(HOSTILE, result["out"], strict=True):
        assert shown["active"] == 0, payload
        assert shown["handlers"] == 0, payload
        assert shown["scriptLinks"] == 0, payload
    # Raw HTML is shown as the text the model wrote, not dropped.
    assert "<img src=x onerror=" in result["out"][0]["text"]
    assert "<script>window.__xss = 'script'</script>" in result["out"][1]["text"]


def test_markdown_still_formats(module_page: Any) -> None:
    html = module_page.evaluate(
        """async () => (await import('/static/js/markdown.js')).renderMarkdown(
            '# Title\\n\\n**bold** and `code`\\n\\n- a\\n- b\\n\\n```py\\nx < 1\\n```\\n\\n[site](https://example.org)'
        )"""
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>a</li>" in html
    assert "x &lt; 1" in html
    assert 'href="https://example.org"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


# --- the SSE parser and the stream follower ---------------------------------------------------

_LINE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=20
)
_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["text_chunk", "status_changed", "tool_completed", "message"]),
        st.lists(_LINE_TEXT, min_size=1, max_size=3).map("\n".join),
        st.integers(min_value=1, max_value=10**9),
    ),
    max_size=6,
)


@given(
    events=_EVENTS,
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    heartbeat=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=12),
)
def test_sse_parser_gives_the_same_events_however_the_stream_is_cut(
    module_page: Any, events: list[tuple[str, str, int]], newline: str, heartbeat: bool, cuts: list[int]
) -> None:
    text = ""
    for kind, data, event_id in events:
        if heartbeat:
            text += ":" + newline
        lines = [f"id: {event_id}", f"event: {kind}", *[f"data: {line}" for line in data.split("\n")]]
        text += newline.join(lines) + newline + newline
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    pieces = [text[start:end] for start, end in zip([0, *points], [*points, len(text)], strict=True)]
    parsed = module_page.evaluate(
        """async (pieces) => {
            const { SSEParser } = await import('/static/js/sse.js');
            const parser = new SSEParser();
            return pieces.flatMap((piece) => parser.feed(piece));
        }""",
        pieces,
    )
    assert [(e["type"], e["data"], e["id"]) for e in parsed] == [(k, d, str(i)) for k, d, i in events]


def test_follow_stream_resumes_after_a_drop_without_duplicating_or_losing_text(module_page: Any) -> None:
    result = module_page.evaluate(
        """async () => {
            const { followStream } = await import('/static/js/sse.js');
            const chunk = (id, text) => `id: ${id}\\nevent: text_chunk\\ndata: `
                + `${JSON.stringify({ chunk: text, type: 'content' })}\\n\\n`;
            const bodies = [
                // Three events, half of the fourth, then the connection breaks.
                { parts: [chunk(1, 'Hel') + chunk(2, 'lo, '), chunk(3, 'wor') + 'id: 4\\nevent: text_ch'],
                  fail: true },
                // A reconnect that ends cleanly but early (a proxy closing an idle stream).
                { parts: [': heartbeat\\n\\n'], fail: false },
                // The server replays from an earlier point: 2 and 3 must not show twice.
                { parts: [chunk(2, 'lo, ') + chunk(3, 'wor') + chunk(4, 'ld'),
                          'id: 5\\nevent: completed\\ndata: {"stats": {"total_tokens": 7}}\\n\\n'],
                  fail: false },
            ];
            const calls = [];
            const fetchImpl = async (url, init) => {
                calls.push({ url, lastEventId: init.headers['Last-Event-ID'] ?? null });
                const body = bodies[calls.length - 1];
                const encoder = new TextEncoder();
                const parts = [...body.parts];
                // One part per read; the failure comes only once every part was read
                // (an errored stream drops what is still queued).
                const stream = new ReadableStream({
                    pull(controller) {
                        if (parts.length) controller.enqueue(encoder.encode(parts.shift()));
                        else if (body.fail) controller.error(new TypeError('network error'));
                        else controller.close();
                    },
                });
                const headers = { 'content-type': 'text/event-stream' };
                return new Response(stream, { status: 200, headers });
            };
            let text = '';
            const ids = [];
            const states = [];
            const end = await followStream({
                url: '/api/v1/conversations/c1/stream',
                after: null,
                fetchImpl,
                isFinal: (type) => type === 'completed',
                onEvent: (type, data, id) => { ids.push(id); if (type === 'text_chunk') text += data.chunk; },
                onState: (state) => states.push(state),
            });
            return { text, ids, calls, end, states };
        }"""
    )
    assert result["text"] == "Hello, world"
    assert result["ids"] == [1, 2, 3, 4, 5]
    assert result["end"] == {"last": 5, "type": "completed", "data": {"stats": {"total_tokens": 7}}}
    assert [call["lastEventId"] for call in result["calls"]] == [None, "3", "3"]
    assert result["calls"][0]["url"] == "/api/v1/conversations/c1/stream"
    assert result["calls"][1]["url"] == "/api/v1/conversations/c1/stream?after=3"
    assert "reconnecting" in result["states"]


def test_follow_stream_gives_up_at_once_on_a_client_error(module_page: Any) -> None:
    result = module_page.evaluate(
        """async () => {
            const { followStream } = await import('/static/js/sse.js');
            let calls = 0;
            const fetchImpl = async () => {
                calls += 1;
                return new Response(JSON.stringify({ message: 'Conversation not found' }),
                                    { status: 404, headers: { 'content-type': 'application/json' } });
            };
            try {
                await followStream({ url: '/x', fetchImpl, isFinal: () => true, onEvent: () => {} });
                return { calls, error: null };
            } catch (error) {
                return { calls, error: error.message, status: error.status };
            }
        }"""
    )
    assert result == {"calls": 1, "error": "Conversation not found", "status": 404}


def test_an_api_422_is_mapped_onto_fields(module_page: Any) -> None:
    errors = module_page.evaluate(
        """async (bodies) => {
            const { ApiError } = await import('/static/js/api.js');
            return bodies.map((body) => new ApiError(422, body).errors);
        }""",
        [
            {"message": "Invalid", "errors": {"model_config.temperature": ["must be between 0 and 2"]}},
            {"detail": [{"loc": ["body", "name"], "msg": "Field required"}]},
        ],
    )
    assert errors == [{"model_config.temperature": ["must be between 0 and 2"]}, {"name": ["Field required"]}]
    assert json.dumps(errors)
