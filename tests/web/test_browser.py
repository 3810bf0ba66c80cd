"""The web app end to end: `cw serve --demo` on a loopback port, driven by headless Chromium.

The server is a real subprocess. Its ``fake`` backend answers with the demo model; the
Hugging Face backend talks to the project's `ScriptedServer` (the demo model again, posing
as the router) and Ollama is the project's `FakeOllamaServer` — both started here, so the
tests can see what the backends were sent. Each test signs up its own user, so tests do not
depend on each other or on their order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from adapters.llm.testing.ollama_server import FakeOllamaServer
from adapters.llm.testing.scripted_server import ScriptedServer
from adapters.web.demo import DEMO_FILES, STORY, demo_handler
from tests.web.conftest import open_page, require_chromium, screenshot
from tests.web.servers import DroppingProxy, cw_serve, in_thread

HF_KEY = "hf_test" + "0" * 30


@attrs.frozen
class Served:
    url: str
    router: ScriptedServer
    ollama: FakeOllamaServer
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_chromium()
    folder = tmp_path_factory.mktemp("web-e2e")
    workspace = folder / "workspace"
    workspace.mkdir()
    for name, text in DEMO_FILES.items():
        (workspace / name).write_text(text, encoding="utf-8")
    log = folder / "serve.log"
    with (
        in_thread(ScriptedServer({"/v1/chat/completions": demo_handler(delay=0.02)})) as router,
        in_thread(FakeOllamaServer(pull_delay=0.04)) as ollama,
    ):
        env = {
            "CW_DATABASE_URL": f"sqlite:///{folder / 'cw.db'}",
            "CW_WORKSPACE": str(workspace),
            "HUGGINGFACE_API_KEY": HF_KEY,
            "HUGGINGFACE_BASE_URL": router.url + "/v1",
            "HUGGINGFACE_MAX_RETRIES": "0",
            "OLLAMA_BASE_URL": ollama.url,
        }
        with cw_serve(["--demo"], env, cwd=folder, log=log) as url:
            yield Served(url=url, router=router, ollama=ollama, log=log)


@attrs.define
class Account:
    """A user of the API, signed up for one test."""

    url: str
    token: str
    email: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, self.url + "/api/v1" + path, headers=headers, timeout=15, **kwargs)

    def agent(self, **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/agents", json={"description": "", "system_prompt": "", **fields})
        assert response.status_code == 201, response.text
        return dict(response.json())


def sign_up(served: Served) -> Account:
    email = f"web-{uuid.uuid4().hex[:10]}@example.com"
    response = httpx.post(
        served.url + "/api/v1/auth/register",
        json={"name": "Web Tester", "email": email, "password": "correct horse battery"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return Account(url=served.url, token=response.json()["token"], email=email)


@pytest.fixture
def account(served: Served) -> Account:
    return sign_up(served)


@pytest.fixture
def signed_in(browser: Any, served: Served, account: Account) -> Iterator[Any]:
    """A page signed in as ``account`` (through the ``#token=`` link the demo prints)."""
    context, page, errors = open_page(browser)
    page.goto(f"{served.url}/#token={account.token}")
    page.wait_for_selector("h1:has-text('Agents')")
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def open_chat(page: Any, served: Served, agent: dict[str, Any]) -> None:
    """Open ``agent``'s page and start a conversation from it (it declares the confirm tool)."""
    page.goto(f"{served.url}/#/agents/{agent['id']}")
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_selector("#message")


def send(page: Any, text: str) -> None:
    page.fill("#message", text)
    page.click("#send")


def wait_for_status(page: Any, words: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "(words) => document.getElementById('run-status')?.textContent === words", arg=words, timeout=timeout
    )


def last_reply_text(page: Any) -> str:
    return str(page.locator(".msg.assistant .content").last.inner_text())


WATCH_REPLY = """() => {
    window.__lengths = [];
    const messages = document.getElementById('messages');
    new MutationObserver(() => {
        const last = [...messages.querySelectorAll('.msg.assistant .content')].pop();
        if (last) window.__lengths.push(last.textContent.length);
    }).observe(messages, { subtree: true, childList: true, characterData: true });
}"""


# --- sign-up, the agent form -----------------------------------------------------------------


def test_register_then_create_a_hugging_face_agent_with_a_validation_error_on_the_way(
    browser: Any, served: Served
) -> None:
    context, page, errors = open_page(browser)
    page.goto(served.url + "/")
    page.wait_for_selector("#register-name")
    email = f"form-{uuid.uuid4().hex[:8]}@example.com"
    page.fill("#register-name", "Ada")
    page.fill("#register-email", email)
    page.fill("#register-password", "short")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("#register-password-error:not([hidden])")  # 422: the password is too short
    assert page.input_value("#register-email") == email  # nothing typed is lost
    page.fill("#register-password", "a long enough password")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("h1:has-text('Agents')")
    assert "Ada" in page.inner_text("#whoami")

    page.get_by_role("link", name="New agent").click()
    page.wait_for_selector("#f-backend")
    labels = page.eval_on_selector_all("#f-backend option", "(options) => options.map((o) => o.textContent)")
    assert any(label.startswith("Hugging Face (huggingface)") for label in labels), labels
    page.select_option("#f-backend", "fake")
    assert page.is_hidden("#f-provider")  # the provider is a Hugging Face setting only
    page.select_option("#f-backend", "huggingface")
    page.wait_for_selector("#f-provider", state="visible")
    page.wait_for_function("() => document.querySelectorAll('#model-suggestions option').length > 0")
    suggestions = page.eval_on_selector_all("#model-suggestions option", "(o) => o.map((x) => x.value)")
    assert any("/" in name for name in suggestions), suggestions

    page.fill("#f-name", "Router agent")
    page.fill("#f-description", "Talks to the scripted router")
    page.fill("#f-system-prompt", "Be brief.")
    page.fill("#f-model", "org/model")
    page.select_option("#f-provider", "fastest")
    page.fill("#f-temperature", "5")
    page.fill("#f-max-tokens", "512")
    page.check("input[name=tools][value=read]")
    page.get_by_role("button", name="Create agent").click()
    error = page.wait_for_selector("#f-temperature-error:not([hidden])")
    assert error.inner_text().strip()
    assert page.get_attribute("#f-temperature", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "f-temperature"
    # Everything typed is still there.
    assert page.input_value("#f-name") == "Router agent"
    assert page.input_value("#f-model") == "org/model"
    assert page.input_value("#f-provider") == "fastest"
    assert page.input_value("#f-system-prompt") == "Be brief."
    assert page.is_checked("input[name=tools][value=read]")
    screenshot(page, "form")

    page.fill("#f-temperature", "0.5")
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_selector("h1:has-text('Router agent')")

    token = page.evaluate("sessionStorage.getItem('cw.token')")
    agents = httpx.get(
        served.url + "/api/v1/agents", headers={"Authorization": f"Bearer {token}"}, timeout=15
    ).json()["data"]
    (agent,) = agents
    assert agent["ai_backend"] == "huggingface"
    assert agent["tools"] == ["read"]
    config = agent["model_config"]
    assert (config["model"], config["provider"], config["temperature"], config["max_tokens"]) == (
        "org/model",
        "fastest",
        0.5,
        512,
    )
    page.goto(served.url + "/#/agents")
    page.wait_for_selector(".agent-card")
    screenshot(page, "agents")
    context.close()
    assert errors == []


def test_editing_keeps_what_the_form_does_not_show_and_a_named_provider(
    signed_in: Any, served: Served, account: Account
) -> None:
    page = signed_in
    agent = account.agent(
        name="Routed",
        ai_backend="huggingface",
        model_config={"model": "Qwen/Qwen2.5-72B-Instruct", "provider": "together", "top_k": 40},
    )
    page.goto(f"{served.url}/#/agents/{agent['id']}/edit")
    page.wait_for_selector("#f-provider-name", state="visible")
    assert page.input_value("#f-provider") == "other"
    assert page.input_value("#f-provider-name") == "together"
    assert page.input_value("#f-model") == "Qwen/Qwen2.5-72B-Instruct"
    page.fill("#f-provider-name", "")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("#f-provider-name-error:not([hidden])")  # checked before sending
    page.fill("#f-provider-name", "cerebras")
    page.fill("#f-top-p", "0.9")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("h1:has-text('Routed')")
    config = account.call("GET", f"/agents/{agent['id']}").json()["model_config"]
    assert config["provider"] == "cerebras"
    assert config["top_p"] == 0.9
    assert config["top_k"] == 40  # not in the form, and not lost

    page.goto(f"{served.url}/#/agents/{agent['id']}/edit")
    page.wait_for_selector("#f-backend")
    page.select_option("#f-backend", "fake")
    page.fill("#f-model", "")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("h1:has-text('Routed')")
    saved = account.call("GET", f"/agents/{agent['id']}").json()
    assert saved["ai_backend"] == "fake"
    assert "provider" not in saved["model_config"]  # a Hugging Face setting goes with its backend


# --- chat -------------------------------------------------------------------------------------


def test_chat_on_hugging_face_streams_in_pieces_runs_a_tool_and_survives_a_reload(
    signed_in: Any, served: Served, account: Account
) -> None:
    page = signed_in
    agent = account.agent(
        name="HF reader",
        ai_backend="huggingface",
        model_config={"model": "org/model", "provider": "fastest"},
        tools=["read"],
    )
    open_chat(page, served, agent)
    page.evaluate(WATCH_REPLY)
    send(page, "Hello there, please think")
    page.wait_for_function(
        "() => (document.querySelector('.msg.assistant .content')?.textContent.length ?? 0) > 20"
    )
    screenshot(page, "chat")  # mid-stream
    wait_for_status(page, "Done")
    lengths = page.evaluate("window.__lengths")
    partial = sorted({n for n in lengths if n > 0})
    assert len(partial) >= 3, lengths  # the text arrived in pieces, not at once
    assert "After thinking it over" in last_reply_text(page)
    thinking = page.locator(".msg.assistant details.thinking").last
    assert "weigh it" in (thinking.text_content() or "")
    assert thinking.evaluate("(details) => details.open") is False  # collapsed once the answer came
    thinking.locator("summary").click()
    assert "weigh it" in thinking.inner_text()
    assert page.locator(".run-note.usage").last.inner_text().startswith("Tokens: ")
    request = served.router.requests[-1].json()
    assert request["model"] == "org/model:fastest"  # the HF path: the router got the provider

    send(page, "Please read the poem")
    tool = page.wait_for_selector(".tool[data-tool=read][data-state=done]")
    assert "poem.txt" in tool.query_selector(".tool-args").inner_text()
    assert "床前明月光" in tool.query_selector(".tool-result").inner_text()
    wait_for_status(page, "Done")
    assert "moonlit night" in last_reply_text(page)
    before = page.locator("#messages").inner_text()

    page.reload()
    page.wait_for_selector(".tool[data-tool=read] .tool-result")
    assert page.locator(".msg.user").count() == 2
    assert "床前明月光" in page.locator(".tool[data-tool=read] .tool-result").inner_text()
    assert "moonlit night" in last_reply_text(page)
    after = page.locator("#messages").inner_text()
    for line in ("Hello there, please think", "After thinking it over", "Please read the poem"):
        assert before.count(line) == after.count(line) == 1


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101001825dd5b0000000049454e44ae426082"
)


def test_an_attached_image_reaches_the_model(signed_in: Any, served: Served, account: Account) -> None:
    page = signed_in
    agent = account.agent(name="Looker", ai_backend="huggingface", model_config={"model": "org/vision"})
    open_chat(page, served, agent)
    page.set_input_files("#attach", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PNG_1X1}])
    assert page.inner_text("#attached") == "dot.png"
    send(page, "What is in this picture?")
    wait_for_status(page, "Done")
    assert page.locator(".msg.user").last.inner_text().endswith("1 image attached")
    assert page.inner_text("#attached") == ""
    body = served.router.requests[-1].json()
    parts = body["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in parts), parts
    conversation_id = page.url.rsplit("/", 1)[-1]
    messages = account.call("GET", f"/conversations/{conversation_id}").json()["messages"]
    assert [m["images"] for m in messages if m["role"] == "user"] == [1]
    page.reload()
    page.wait_for_selector(".msg.user")
    assert page.locator(".msg.user").last.inner_text().endswith("1 image attached")


def test_stop_cancels_a_long_reply(signed_in: Any, served: Served, account: Account) -> None:
    page = signed_in
    agent = account.agent(name="Storyteller", ai_backend="fake")
    open_chat(page, served, agent)
    send(page, "Tell me a long story")
    page.wait_for_function(
        "() => (document.querySelector('.msg.assistant .content')?.textContent.length ?? 0) > 40"
    )
    assert page.is_enabled("#stop")
    page.click("#stop")
    wait_for_status(page, "Stopped")
    assert page.locator(".run-note.stopped").count() == 1
    assert page.is_disabled("#stop")
    conversation_id = page.url.rsplit("/", 1)[-1]
    status = account.call("GET", f"/conversations/{conversation_id}/status").json()
    assert status["status"] == "cancelled"
    assert "Part 60" not in last_reply_text(page)


def test_model_html_and_script_are_shown_as_text_and_never_run(
    signed_in: Any, served: Served, account: Account
) -> None:
    page = signed_in
    agent = account.agent(name="Echo", ai_backend="fake")
    open_chat(page, served, agent)
    send(page, "show me some html")
    wait_for_status(page, "Done")
    reply = page.locator(".msg.assistant .content").last
    assert "<img src=x onerror=" in reply.inner_text()
    assert "<script>" in reply.inner_text()
    assert reply.locator("strong").inner_text() == "Markdown still works"
    assert page.locator("#messages img, #messages script, #messages [onerror]").count() == 0
    assert page.evaluate("window.__cwXss ?? null") is None


def test_a_confirm_request_is_answered_from_the_page_even_after_a_reload(
    signed_in: Any, served: Served, account: Account
) -> None:
    page = signed_in
    agent = account.agent(name="Careful", ai_backend="fake")
    open_chat(page, served, agent)
    send(page, "please confirm before deleting")
    page.get_by_role("button", name="Deny").wait_for()
    page.get_by_role("button", name="Deny").click()
    wait_for_status(page, "Done")
    assert "You said no" in last_reply_text(page)

    send(page, "confirm once more")
    page.get_by_role("button", name="Approve").wait_for()
    page.reload()  # the run waits for us: the question is asked again
    approve = page.get_by_role("button", name="Approve")
    approve.wait_for()
    assert "May I delete notes.md" in page.locator(".tool[data-tool=confirm] .question").inner_text()
    assert page.evaluate("document.activeElement.textContent") == "Approve"  # keyboard-ready
    page.keyboard.press("Enter")
    wait_for_status(page, "Done")
    assert "You approved" in last_reply_text(page)
    results = page.locator(".tool[data-tool=confirm] .tool-result").all_inner_texts()
    assert results == ["denied", "approved"]


def test_a_reload_in_the_middle_of_a_reply_shows_it_once_and_whole(
    signed_in: Any, served: Served, account: Account
) -> None:
    page = signed_in
    agent = account.agent(name="Reloader", ai_backend="fake")
    open_chat(page, served, agent)
    send(page, "tell me a story")
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant .content')?.textContent.includes('Part 3')"
    )
    page.reload()
    page.wait_for_function(
        "() => document.querySelector('.msg.assistant .content')?.textContent.includes('Part 5')"
    )
    page.click("#stop")
    wait_for_status(page, "Stopped")
    text = last_reply_text(page)
    assert text.startswith("Part 1: ")
    assert text.count("Part 1: ") == 1
    assert text.count("Part 3: ") == 1
    assert page.locator(".msg.assistant").count() == 1
    assert page.locator(".msg.user").count() == 1


def test_a_failed_run_says_why_in_plain_words(signed_in: Any, served: Served, account: Account) -> None:
    page = signed_in
    agent = account.agent(name="Fragile", ai_backend="fake")
    open_chat(page, served, agent)
    send(page, "now fail please")
    wait_for_status(page, "Failed")
    note = page.locator(".run-note.error").last.inner_text()
    assert note.startswith("The run failed: ")
    assert "asked to fail" in note
    assert "Traceback" not in note


def test_a_dropped_connection_resumes_without_duplicated_or_missing_text(
    browser: Any, served: Served, account: Account
) -> None:
    agent = account.agent(name="Resilient", ai_backend="fake")
    with in_thread(DroppingProxy(served.url)) as proxy:
        context, page, errors = open_page(browser)
        page.goto(f"{proxy.url}/#token={account.token}")
        page.wait_for_selector(".agent-card")
        open_chat(page, served=attrs.evolve(served, url=proxy.url), agent=agent)
        send(page, "tell me a story")
        page.wait_for_function(
            "() => (document.querySelector('.msg.assistant .content')?.textContent.length ?? 0) > 10"
        )
        assert proxy.drop() >= 1
        page.wait_for_selector(".connection:not([hidden])")  # "Connection lost — reconnecting"
        page.wait_for_function(
            "() => document.querySelector('.msg.assistant .content')?.textContent.includes('Part 8:')"
        )
        assert page.is_hidden(".connection")
        page.click("#stop")
        wait_for_status(page, "Stopped")
        text = last_reply_text(page)
        # Exactly the start of the scripted story: nothing doubled, nothing missing.
        assert STORY.startswith(text)
        assert len(text) > len(STORY.split("Part 8:")[0])
        context.close()
        assert errors == []


# --- models -------------------------------------------------------------------------------------


def test_pull_shows_live_progress_to_100_percent_then_delete_asks_first(
    signed_in: Any, served: Served
) -> None:
    page = signed_in
    page.get_by_role("link", name="Models").click()
    section = page.locator("section[data-backend=ollama]")
    section.locator("tr[data-model='llama3.1:latest']").wait_for()
    page.evaluate(
        """() => {
            window.__progress = [];
            const bar = document.getElementById('pull-ollama-bar');
            new MutationObserver(() => window.__progress.push(bar.value))
                .observe(bar, { attributes: true, attributeFilter: ['value'] });
        }"""
    )
    page.fill("#pull-ollama", "qwen2.5:0.5b")
    section.get_by_role("button", name="Pull").click()
    page.wait_for_function(
        "() => document.getElementById('pull-ollama-status').textContent === 'Pulled qwen2.5:0.5b: 100 %'"
    )
    assert page.evaluate("document.getElementById('pull-ollama-bar').value") == 100
    seen = page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen  # the bar moved while downloading
    assert seen == sorted(seen)
    row = section.locator("tr[data-model='qwen2.5:0.5b']")
    row.wait_for()
    assert "qwen2.5:0.5b" in served.ollama.installed

    row.get_by_role("button", name="Delete qwen2.5:0.5b").click()
    dialog = page.locator("dialog.confirm-dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    assert "qwen2.5:0.5b" in served.ollama.installed  # cancelled: nothing deleted
    row.get_by_role("button", name="Delete qwen2.5:0.5b").click()
    page.locator("dialog.confirm-dialog").get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    assert "qwen2.5:0.5b" not in served.ollama.installed


# --- sign-out, small screens, keyboard ----------------------------------------------------------


def test_sign_out_revokes_the_token(signed_in: Any, served: Served, account: Account) -> None:
    page = signed_in
    assert account.call("GET", "/auth/user").status_code == 200
    page.click("#sign-out")
    page.wait_for_selector("#login-email")
    assert page.evaluate("sessionStorage.getItem('cw.token')") is None
    assert account.call("GET", "/auth/user").status_code == 401


def test_readable_at_375_px_with_labelled_controls_and_a_keyboard_send(
    browser: Any, served: Served, account: Account
) -> None:
    agent = account.agent(name="Small screen", ai_backend="fake", tools=["read"])
    context, page, errors = open_page(browser, width=375, height=740)
    page.goto(f"{served.url}/#token={account.token}")
    page.wait_for_selector(".agent-card")
    unlabelled = """() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label')
                 && !el.closest('label'))
        .map((el) => el.id || el.name)"""
    overflow = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    page.goto(f"{served.url}/#/agents/{agent['id']}/edit")
    page.wait_for_selector("#f-name")
    assert page.evaluate(unlabelled) == []
    assert page.evaluate(overflow) <= 0
    open_chat(page, served, agent)
    assert page.evaluate(unlabelled) == []
    page.focus("#message")
    page.keyboard.type("hello from the keyboard")
    page.keyboard.press("Enter")
    wait_for_status(page, "Done")
    assert page.evaluate(overflow) <= 0
    assert "hello from the keyboard" in page.locator(".msg.user").last.inner_text()
    page.goto(served.url + "/#/login")
    page.wait_for_selector("#login-email")
    assert page.evaluate(unlabelled) == []
    context.close()
    assert errors == []


# --- the demo as a newcomer sees it ----------------------------------------------------------------


def test_cw_serve_demo_prints_a_link_that_signs_in_to_the_seeded_agents(browser: Any, tmp_path: Path) -> None:
    require_chromium()
    log = tmp_path / "demo.log"
    # Nothing configured: the demo brings its own stand-ins and database.
    clean = {"CW_DATABASE_URL": "", "HUGGINGFACE_API_KEY": "", "OLLAMA_BASE_URL": "", "CW_WORKSPACE": ""}
    with cw_serve(["--demo"], clean, cwd=tmp_path, log=log) as url:
        output = log.read_text()
        link = re.search(r"open (http://\S+/#token=\S+)", output)
        assert link is not None, output
        assert link.group(1).startswith(url + "/#token=cw_")
        assert "demo@example.com" in output
        context, page, errors = open_page(browser)
        page.goto(link.group(1))
        page.wait_for_selector(".agent-card")
        names = page.locator(".agent-card h2").all_inner_texts()
        assert {"Llama on Hugging Face", "Offline fake", "Demo tour"} <= set(names)
        page.get_by_role("link", name="Llama on Hugging Face", exact=True).click()
        page.get_by_role("button", name="New conversation").click()
        page.wait_for_selector("#message")
        send(page, "hello")
        wait_for_status(page, "Done")
        assert "demo model" in last_reply_text(page)
        context.close()
        assert errors == []
