// The agents list, and one agent's page with its conversations.

import { api } from "../api.js";
import { announce, ask, h, replace, when } from "../dom.js";

/** The declaration of the page's client tool: the model asks, the person answers. */
export const CONFIRM_TOOL = {
  name: "confirm",
  description:
    "Ask the person using the web page to approve or deny something before you do it. " +
    "Returns 'approved' or 'denied'.",
  parameters: {
    type: "object",
    properties: { question: { type: "string", description: "What to approve, in one sentence." } },
    required: ["question"],
  },
};

function modelOf(agent) {
  const config = agent.model_config || {};
  const provider = config.provider ? ` · ${config.provider}` : "";
  return `${agent.ai_backend}${config.model ? ` · ${config.model}` : ""}${provider}`;
}

function errorBox(error) {
  return h("p", { class: "error-box", role: "alert", text: error.message || String(error) });
}

export async function agentsList(main) {
  const list = h("ul", { class: "agent-list", "aria-label": "Agents" });
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: "Agents" }),
      h("a", { class: "button primary", href: "#/agents/new", text: "New agent" }),
    ),
    list,
  );
  let page;
  try {
    page = await api("/agents?page=1&per_page=100");
  } catch (error) {
    replace(list, errorBox(error));
    return;
  }
  const agents = page.data || [];
  if (agents.length === 0) {
    list.replaceWith(h("p", { class: "empty", text: "No agents yet. Create one to start chatting." }));
    return;
  }
  for (const agent of agents) {
    const item = h(
      "li",
      { class: "card agent-card", dataset: { agentId: agent.id } },
      h("h2", {}, h("a", { href: `#/agents/${encodeURIComponent(agent.id)}`, text: agent.name })),
      h("p", { class: "meta", text: modelOf(agent) }),
      agent.description ? h("p", { class: "description", text: agent.description }) : null,
      agent.tools?.length ? h("p", { class: "meta", text: `Tools: ${agent.tools.join(", ")}` }) : null,
      h(
        "div",
        { class: "actions" },
        h("a", { class: "button", href: `#/agents/${encodeURIComponent(agent.id)}`, text: "Chat" }),
        h("a", {
          class: "button secondary",
          href: `#/agents/${encodeURIComponent(agent.id)}/edit`,
          text: "Edit",
          "aria-label": `Edit ${agent.name}`,
        }),
        h("button", {
          type: "button",
          class: "danger",
          text: "Delete",
          "aria-label": `Delete ${agent.name}`,
          onclick: async () => {
            if (!(await ask(`Delete the agent “${agent.name}” and its conversations?`))) return;
            try {
              await api(`/agents/${encodeURIComponent(agent.id)}`, { method: "DELETE" });
              item.remove();
              announce(`Deleted ${agent.name}`);
            } catch (error) {
              item.append(errorBox(error));
            }
          },
        }),
      ),
    );
    list.append(item);
  }
}

/** Start a conversation with ``agentId`` that declares the page's confirm tool, and open it. */
export async function startConversation(agentId, title) {
  const conversation = await api(`/agents/${encodeURIComponent(agentId)}/conversations`, {
    method: "POST",
    body: { title: title || null, client_tool_schemas: [CONFIRM_TOOL] },
  });
  window.location.hash = `#/conversations/${encodeURIComponent(conversation.id)}`;
}

export async function agentPage(main, [agentId]) {
  const agent = await api(`/agents/${encodeURIComponent(agentId)}`);
  const list = h("ul", { class: "conversation-list", "aria-label": "Conversations" });
  const problem = h("p", { class: "error-box", role: "alert", hidden: true });
  const titleInput = h("input", { id: "new-conversation-title", name: "title", maxlength: "255" });
  const form = h(
    "form",
    { class: "inline-form" },
    h("label", { for: "new-conversation-title", text: "Title (optional)" }),
    titleInput,
    h("button", { type: "submit", class: "primary", text: "New conversation" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await startConversation(agent.id, titleInput.value.trim());
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
    }
  });
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/agents", text: "← Agents" })),
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: agent.name }),
      h("a", { class: "button secondary", href: `#/agents/${encodeURIComponent(agent.id)}/edit`, text: "Edit" }),
    ),
    h("p", { class: "meta", text: modelOf(agent) }),
    agent.description ? h("p", { class: "description", text: agent.description }) : null,
    form,
    problem,
    h("h2", { text: "Conversations" }),
    list,
  );
  let page;
  try {
    page = await api(`/conversations?agent_id=${encodeURIComponent(agent.id)}&page=1&per_page=100`);
  } catch (error) {
    replace(list, errorBox(error));
    return;
  }
  const conversations = page.data || [];
  if (conversations.length === 0) {
    list.append(h("li", { class: "empty", text: "No conversations yet." }));
  }
  for (const conversation of conversations) {
    const label = conversation.title || `Conversation of ${when(conversation.created_at)}`;
    const item = h(
      "li",
      { class: "conversation-item" },
      h("a", { href: `#/conversations/${encodeURIComponent(conversation.id)}`, text: label }),
      h("span", { class: `badge status-${conversation.status}`, text: conversation.status }),
      h("span", { class: "meta", text: when(conversation.updated_at || conversation.created_at) }),
      h("button", {
        type: "button",
        class: "danger small",
        text: "Delete",
        "aria-label": `Delete ${label}`,
        onclick: async () => {
          if (!(await ask(`Delete “${label}”?`))) return;
          try {
            await api(`/conversations/${encodeURIComponent(conversation.id)}`, { method: "DELETE" });
            item.remove();
            announce("Conversation deleted");
          } catch (error) {
            item.append(errorBox(error));
          }
        },
      }),
    );
    list.append(item);
  }
}
