// The chat view: a conversation's messages, and its runs streamed live over SSE.
//
// A run's events (issue 10): status_changed, text_chunk {chunk, type: content|thinking},
// tool_executing, tool_completed, tool_request, retry, and one terminal event (completed,
// failed, cancelled, max_turns) with its stats. The stream closes after a terminal event or
// a tool_request; `followStream` reconnects on a drop and resumes after the last event id,
// so nothing is shown twice or lost.

import { api, ApiError, stream } from "../api.js";
import { announce, h } from "../dom.js";
import { setMarkdown } from "../markdown.js";

const TERMINAL = new Set(["completed", "failed", "cancelled", "max_turns"]);
const BUSY = new Set(["processing", "waiting_for_tool"]);
const isFinal = (type) => TERMINAL.has(type) || type === "tool_request";

const STATUS_WORDS = {
  idle: "Ready",
  processing: "Working…",
  waiting_for_tool: "Waiting for you",
  completed: "Done",
  failed: "Failed",
  cancelled: "Stopped",
  max_turns: "Turn limit reached",
};

/** "12 prompt + 30 completion = 42 tokens" from a stats or usage object. */
export function describeUsage(stats) {
  if (!stats) return "";
  const prompt = stats.prompt_tokens ?? 0;
  const completion = stats.completion_tokens ?? 0;
  const total = stats.total_tokens ?? prompt + completion;
  const turns = stats.turns ? ` · ${stats.turns} turn${stats.turns === 1 ? "" : "s"}` : "";
  return `Tokens: ${prompt} prompt + ${completion} completion = ${total}${turns}`;
}

function pretty(value) {
  if (value === undefined || value === null || value === "") return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

function argumentsOf(value) {
  if (value && typeof value === "object") return value;
  try {
    return JSON.parse(value || "{}");
  } catch {
    return {};
  }
}

function callId(call) {
  return call.call_id ?? call.id;
}

function toolName(call) {
  return call.name ?? call.function_name ?? call.function?.name ?? "tool";
}

/** A file as a data URL (the API takes images as data URLs or base64). */
function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`Could not read ${file.name}.`));
    reader.readAsDataURL(file);
  });
}

function runKey(conversationId) {
  return `cw.run.${conversationId}`;
}

class ChatView {
  constructor(main, conversation, agent) {
    this.main = main;
    this.conversation = conversation;
    this.id = conversation.id;
    this.agent = agent;
    this.reply = null; // the assistant bubble text is streaming into
    this.tools = new Map(); // call_id -> tool box
    this.last = null; // the last event id seen
    this.controller = null;
    this.closed = false;
    this.busy = false;
    this.build();
  }

  build() {
    const agent = this.agent;
    const title = this.conversation.title || (agent ? `Chat with ${agent.name}` : "Conversation");
    this.statusEl = h("span", { class: "badge", id: "run-status", role: "status" });
    this.messagesEl = h("ol", { class: "messages", id: "messages", "aria-label": "Messages" });
    this.connectionEl = h("p", { class: "connection", role: "status", hidden: true });
    this.errorEl = h("p", { class: "error-box", role: "alert", id: "chat-error", hidden: true });
    this.input = h("textarea", {
      id: "message",
      name: "content",
      rows: "3",
      placeholder: "Write a message — Enter sends, Shift+Enter starts a new line",
    });
    this.sendButton = h("button", { type: "submit", class: "primary", id: "send", text: "Send" });
    this.stopButton = h("button", {
      type: "button",
      class: "danger",
      id: "stop",
      text: "Stop",
      disabled: true,
      onclick: () => this.stop(),
    });
    this.attach = h("input", {
      type: "file",
      id: "attach",
      accept: "image/png,image/jpeg,image/gif,image/webp",
      multiple: true,
      class: "visually-hidden",
    });
    this.attached = h("span", { class: "attached meta", id: "attached", "aria-live": "polite" });
    this.attach.addEventListener("change", () => {
      const files = [...this.attach.files];
      this.attached.textContent = files.length ? files.map((file) => file.name).join(", ") : "";
    });
    this.form = h(
      "form",
      { class: "composer", "aria-label": "Send a message" },
      h("label", { for: "message", class: "visually-hidden", text: "Message" }),
      this.input,
      h(
        "div",
        { class: "composer-actions" },
        this.attach,
        h("label", { for: "attach", class: "button secondary attach-button", text: "Image…" }),
        this.sendButton,
        this.stopButton,
      ),
      this.attached,
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    const back = agent
      ? h("a", { href: `#/agents/${encodeURIComponent(agent.id)}`, text: `← ${agent.name}` })
      : h("a", { href: "#/agents", text: "← Agents" });
    this.main.classList.add("chat-main");
    this.main.append(
      h("p", { class: "crumbs" }, back),
      h("div", { class: "page-head chat-head" }, h("h1", { text: title }), this.statusEl),
      agent
        ? h("p", {
            class: "meta",
            text: [agent.ai_backend, agent.model_config?.model, agent.model_config?.provider].filter(Boolean).join(" · "),
          })
        : null,
      this.messagesEl,
      this.connectionEl,
      this.errorEl,
      this.form,
    );
  }

  // --- showing messages -------------------------------------------------------------------

  stickToBottom(action) {
    const scroller = document.scrollingElement;
    const near = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
    action();
    if (near) scroller.scrollTop = scroller.scrollHeight;
  }

  addUser(text, images = 0) {
    const note = images ? h("div", { class: "meta", text: `${images} image${images === 1 ? "" : "s"} attached` }) : null;
    this.stickToBottom(() =>
      this.messagesEl.append(
        h("li", { class: "msg user" }, h("div", { class: "who", text: "You" }), h("div", { class: "bubble", text }), note),
      ),
    );
    this.reply = null;
  }

  newReply() {
    const thinkingText = h("div", { class: "thinking-text" });
    const thinkingEl = h(
      "details",
      { class: "thinking", hidden: true, open: true },
      h("summary", { text: "Thinking" }),
      thinkingText,
    );
    const contentEl = h("div", { class: "content markdown" });
    const toolsEl = h("ul", { class: "tool-list", "aria-label": "Tool calls" });
    const el = h(
      "li",
      { class: "msg assistant" },
      h("div", { class: "who", text: this.agent?.name || "Assistant" }),
      thinkingEl,
      contentEl,
      toolsEl,
    );
    const reply = { el, thinkingEl, thinkingText, contentEl, toolsEl, content: "", thinking: "", sealed: false };
    this.stickToBottom(() => this.messagesEl.append(el));
    this.reply = reply;
    return reply;
  }

  currentReply() {
    return this.reply && !this.reply.sealed ? this.reply : this.newReply();
  }

  paint(reply) {
    if (reply.painting) return;
    reply.painting = true;
    requestAnimationFrame(() => {
      reply.painting = false;
      this.stickToBottom(() => {
        reply.thinkingEl.hidden = reply.thinking === "";
        reply.thinkingText.textContent = reply.thinking;
        setMarkdown(reply.contentEl, reply.content);
        reply.el.classList.toggle("has-content", reply.content !== "");
      });
    });
  }

  toolBox(reply, call, state) {
    const id = callId(call);
    const existing = this.tools.get(id);
    if (existing) return existing;
    const stateEl = h("span", { class: "tool-state" });
    const resultEl = h("pre", { class: "tool-result", hidden: true });
    const actionsEl = h("div", { class: "tool-actions" });
    const el = h(
      "li",
      { class: "tool", dataset: { callId: id, tool: toolName(call) } },
      h(
        "details",
        { open: true },
        h("summary", {}, h("span", { class: "tool-name", text: `Tool: ${toolName(call)}` }), " ", stateEl),
        h("p", { class: "label", text: "Arguments" }),
        h("pre", { class: "tool-args", text: pretty(call.arguments) || "(none)" }),
        h("p", { class: "label result-label", text: "Result", hidden: true }),
        resultEl,
        actionsEl,
      ),
    );
    const box = { el, stateEl, resultEl, actionsEl, call };
    this.setToolState(box, state);
    this.tools.set(id, box);
    this.stickToBottom(() => reply.toolsEl.append(el));
    return box;
  }

  setToolState(box, state) {
    const words = { running: "running…", done: "done", failed: "failed", waiting: "waiting for you", sent: "answered" };
    box.stateEl.textContent = words[state] || state;
    box.el.dataset.state = state;
  }

  setToolResult(box, content, success = true) {
    box.resultEl.hidden = false;
    box.resultEl.previousElementSibling.hidden = false;
    box.resultEl.textContent = content ?? "";
    this.setToolState(box, success ? "done" : "failed");
  }

  note(text, kind = "note") {
    const el = h("p", { class: `run-note ${kind}`, text });
    const target = this.reply ? this.reply.el : null;
    this.stickToBottom(() => (target ? target.append(el) : this.messagesEl.append(h("li", { class: "msg system" }, el))));
    return el;
  }

  renderMessages(messages) {
    for (const message of messages) {
      if (message.role === "user") this.addUser(message.content || "", message.images || 0);
      else if (message.role === "assistant") {
        const reply = this.newReply();
        reply.content = message.content || "";
        reply.thinking = message.thinking || "";
        this.paint(reply);
        if (reply.thinking) reply.thinkingEl.open = false;
        for (const call of message.tool_calls || []) this.toolBox(reply, call, "waiting");
        if ((message.tool_calls || []).length) reply.sealed = true;
      } else if (message.role === "tool") {
        const box = this.tools.get(message.tool_call_id);
        if (box) this.setToolResult(box, message.content, !message.is_error && message.success !== false);
      }
    }
  }

  setStatus(status) {
    this.status = status;
    this.statusEl.textContent = STATUS_WORDS[status] || status;
    this.statusEl.className = `badge status-${status}`;
  }

  setBusy(busy) {
    this.busy = busy;
    this.sendButton.disabled = busy;
    this.stopButton.disabled = !busy;
    this.messagesEl.setAttribute("aria-busy", busy ? "true" : "false");
  }

  showError(text) {
    this.errorEl.textContent = text;
    this.errorEl.hidden = !text;
  }

  remember(extra = {}) {
    const saved = { ...this.saved(), ...extra, last: this.last };
    sessionStorage.setItem(runKey(this.id), JSON.stringify(saved));
  }

  saved() {
    try {
      return JSON.parse(sessionStorage.getItem(runKey(this.id)) || "{}");
    } catch {
      return {};
    }
  }

  // --- the run's events -------------------------------------------------------------------

  onEvent(type, data, id) {
    if (id !== null && id !== undefined) {
      this.last = id;
      this.remember();
    }
    switch (type) {
      case "status_changed":
        if (data.status) this.setStatus(data.status);
        break;
      case "text_chunk": {
        const reply = this.currentReply();
        if (data.type === "thinking") reply.thinking += data.chunk || "";
        else {
          if (reply.content === "" && reply.thinking) reply.thinkingEl.open = false;
          reply.content += data.chunk || "";
        }
        this.paint(reply);
        break;
      }
      case "retry": {
        // A redelivered run starts the current reply again: drop what was shown of it.
        const reply = this.reply && !this.reply.sealed ? this.reply : null;
        if (reply) {
          reply.content = "";
          reply.thinking = "";
          this.paint(reply);
        }
        break;
      }
      case "tool_executing": {
        const reply = this.currentReply();
        reply.sealed = true;
        this.setToolState(this.toolBox(reply, data, "running"), "running");
        break;
      }
      case "tool_completed": {
        const reply = this.reply || this.newReply();
        const box = this.tools.get(data.call_id) || this.toolBox(reply, data, "running");
        this.setToolResult(box, data.content, data.success !== false);
        break;
      }
      case "tool_request":
        this.askClient(data.tool_requests || []);
        break;
      default:
        if (TERMINAL.has(type)) this.finish(type, data);
    }
  }

  finish(type, data) {
    this.setStatus(type);
    const usage = describeUsage(data.stats);
    if (type === "failed") {
      this.note(`The run failed: ${data.error || "no reason was given"}`, "error");
      announce("The run failed");
    } else if (type === "cancelled") {
      this.note("Stopped.", "stopped");
      announce("Stopped");
    } else if (type === "max_turns") {
      this.note("The agent stopped: it reached its turn limit.", "stopped");
    } else announce("Reply complete");
    if (usage) this.note(usage, "usage");
    if (this.reply) this.reply.sealed = true;
    this.reply = null;
    this.setBusy(false);
    this.remember({ runStart: null, count: null });
    this.countMessages();
  }

  /** How many messages the server holds now (the replay point of the next run). */
  async countMessages() {
    try {
      const conversation = await api(`/conversations/${encodeURIComponent(this.id)}`);
      this.messageCount = (conversation.messages || []).length;
    } catch {
      /* the count only matters for a reload in the middle of the next run */
    }
  }

  /** Show the client tool requests of a paused run; resume the stream once all are answered. */
  askClient(requests) {
    const reply = this.reply || this.newReply();
    reply.sealed = true;
    this.setStatus("waiting_for_tool");
    const pending = new Set();
    for (const request of requests) {
      const id = callId(request);
      const box = this.toolBox(reply, request, "waiting");
      this.setToolState(box, "waiting");
      if (box.answered) continue;
      pending.add(id);
      const answer = async (result, label) => {
        for (const button of box.actionsEl.querySelectorAll("button")) button.disabled = true;
        try {
          await api(`/conversations/${encodeURIComponent(this.id)}/tool-results`, {
            method: "POST",
            body: { call_id: id, ...result },
          });
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 409)) {
            for (const button of box.actionsEl.querySelectorAll("button")) button.disabled = false;
            this.showError(error.message);
            return;
          }
        }
        box.answered = true;
        box.actionsEl.replaceChildren();
        this.setToolResult(box, label, result.success);
        pending.delete(id);
        if (pending.size === 0) {
          this.setStatus("processing");
          await this.countMessages();
          this.remember({ runStart: this.last, count: this.messageCount });
          this.follow();
        }
      };
      if (toolName(request) === "confirm") {
        const question = argumentsOf(request.arguments).question || "The agent asks for your approval.";
        const approve = h("button", {
          type: "button",
          class: "primary",
          text: "Approve",
          onclick: () => answer({ success: true, output: "approved" }, "approved"),
        });
        box.actionsEl.replaceChildren(
          h("p", { class: "question", text: question }),
          h("div", { class: "actions", role: "group", "aria-label": "Answer the agent" }, approve, h("button", {
            type: "button",
            class: "secondary",
            text: "Deny",
            onclick: () => answer({ success: true, output: "denied" }, "denied"),
          })),
        );
        approve.focus();
        announce(`The agent asks: ${question}`);
      } else {
        answer({ success: false, error: `This page has no tool named ${toolName(request)}.` }, "not available here");
      }
    }
    if (requests.length && pending.size === 0 && this.status === "waiting_for_tool") this.follow();
  }

  // --- actions ----------------------------------------------------------------------------

  async follow(streamUrl) {
    if (this.closed) return;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.setBusy(true);
    this.showError("");
    const url = streamUrl || `/conversations/${encodeURIComponent(this.id)}/stream`;
    try {
      const end = await stream(url, {
        after: this.last,
        signal: controller.signal,
        isFinal,
        onEvent: (type, data, id) => this.onEvent(type, data, id),
        onState: (state, attempt) => {
          this.connectionEl.hidden = state === "open";
          if (state === "reconnecting") this.connectionEl.textContent = `Connection lost — reconnecting (attempt ${attempt})…`;
        },
      });
      if (end && end.type === "tool_request") this.setBusy(true);
    } catch (error) {
      if (controller.signal.aborted) return;
      this.connectionEl.hidden = true;
      this.showError(`${error.message}. Reload the page to see where the run stands.`);
      this.setBusy(false);
    }
  }

  async send() {
    const content = this.input.value;
    const files = [...(this.attach.files || [])];
    if ((!content.trim() && files.length === 0) || this.busy) return;
    const bytes = files.reduce((sum, file) => sum + file.size, 0);
    if (bytes > 7 * 1024 * 1024) {
      this.showError("The images are too large to send together (at most about 7 MB).");
      return;
    }
    this.sendButton.disabled = true;
    this.showError("");
    let accepted;
    try {
      const images = await Promise.all(files.map(readAsDataUrl));
      const body = images.length ? { content, images } : { content };
      accepted = await api(`/conversations/${encodeURIComponent(this.id)}/messages`, { method: "POST", body });
    } catch (error) {
      this.sendButton.disabled = false;
      this.showError(error.status === 409 ? "A run is already in progress in this conversation." : error.message);
      return; // the text and the chosen images stay
    }
    this.input.value = "";
    this.attach.value = "";
    this.attached.textContent = "";
    // The stream URL says where this run's events start (?after=N): trust it over any id
    // this tab remembers, which another tab's runs may have left behind.
    const streamUrl = accepted?.stream_url;
    const after = streamUrl ? new URL(streamUrl, window.location.href).searchParams.get("after") : null;
    this.last = after === null ? null : Number(after);
    this.messageCount += 1;
    this.remember({ runStart: this.last, count: this.messageCount });
    this.addUser(content, files.length);
    this.setStatus("processing");
    this.follow(streamUrl);
  }

  async stop() {
    this.stopButton.disabled = true;
    try {
      await api(`/conversations/${encodeURIComponent(this.id)}/stop`, { method: "POST" });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) {
        this.showError(error.message);
        this.stopButton.disabled = false;
      }
    }
  }

  async start() {
    const conversation = this.conversation;
    const messages = conversation.messages || [];
    const saved = this.saved();
    const status = conversation.status;
    let shown = messages;
    this.last = null; // null: the server starts the stream at its latest run
    if (status === "processing") {
      if (Number.isInteger(saved.runStart) && Number.isInteger(saved.count) && saved.count <= messages.length) {
        // This tab started the run: show the messages from before it and replay the run's
        // own events, so its partial reply is neither lost nor doubled.
        shown = messages.slice(0, saved.count);
        this.last = saved.runStart;
      } else {
        // Another tab's run: the server replays the latest run; show what came before it.
        const lastUser = messages.map((message) => message.role).lastIndexOf("user");
        shown = lastUser === -1 ? messages : messages.slice(0, lastUser + 1);
      }
    }
    this.messageCount = shown.length;
    this.renderMessages(shown);
    this.setStatus(status);
    const usage = conversation.usage;
    if (usage && (usage.total_tokens || 0) > 0 && !BUSY.has(status)) {
      this.note(`Conversation so far — ${describeUsage(usage)}`, "usage");
    }
    if (status === "failed" && conversation.error) this.note(`The last run failed: ${conversation.error}`, "error");
    this.setBusy(BUSY.has(status));
    if (status !== "waiting_for_tool") this.input.focus(); // else the question has the focus
    if (status === "waiting_for_tool") this.askClient(conversation.tool_requests || []);
    else if (status === "processing") this.follow();
  }

  close() {
    this.closed = true;
    this.controller?.abort();
    this.main.classList.remove("chat-main");
  }
}

export async function chatView(main, [conversationId]) {
  const conversation = await api(`/conversations/${encodeURIComponent(conversationId)}`);
  let agent = null;
  try {
    agent = await api(`/agents/${encodeURIComponent(conversation.agent_id)}`);
  } catch {
    /* the agent may be gone; the conversation still shows */
  }
  const view = new ChatView(main, conversation, agent);
  await view.start();
  return () => view.close();
}
