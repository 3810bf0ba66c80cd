// Create or edit an agent: one form, the API's 422 errors beside their fields.

import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "./forms.js";

export const BACKEND_LABELS = {
  huggingface: "Hugging Face",
  ollama: "Ollama",
  openai: "OpenAI",
  claude: "Anthropic Claude",
  fake: "Fake (scripted, offline)",
};

const PROVIDER_POLICIES = [
  ["auto", "Auto — the router decides"],
  ["fastest", "Fastest — highest throughput"],
  ["cheapest", "Cheapest — lowest price"],
  ["other", "A provider by name…"],
];

/** API error key → the id of the control it belongs to. */
const ERROR_FIELDS = {
  name: "f-name",
  description: "f-description",
  system_prompt: "f-system-prompt",
  ai_backend: "f-backend",
  status: "f-status",
  "model_config.model": "f-model",
  "model_config.temperature": "f-temperature",
  "model_config.max_tokens": "f-max-tokens",
  "model_config.top_p": "f-top-p",
};

const NUMBERS = [
  ["temperature", "f-temperature", "Temperature", "0 to 2. Empty: the backend's default.", "0.1", "0", "2"],
  ["max_tokens", "f-max-tokens", "Max tokens", "1 to 200000. Empty: the backend's default.", "1", "1", "200000"],
  ["top_p", "f-top-p", "Top p", "0 to 1. Empty: the backend's default.", "0.05", "0", "1"],
];

function builtinTools() {
  const meta = document.querySelector('meta[name="cw-builtin-tools"]')?.content || "";
  return meta.split(",").filter(Boolean);
}

export function backendLabel(backend) {
  const label = BACKEND_LABELS[backend.name] || backend.name;
  const status = backend.status ? ` — ${backend.status}` : "";
  return `${label} (${backend.name})${status}`;
}

export async function agentForm(main, [agentId]) {
  const editing = Boolean(agentId);
  const [agent, backendList] = await Promise.all([
    editing ? api(`/agents/${encodeURIComponent(agentId)}`) : Promise.resolve(null),
    api("/ai-backends"),
  ]);
  const backends = backendList.backends || [];
  const config = agent?.model_config || {};
  const general = h("p", { class: "error-box", role: "alert", tabindex: "-1", hidden: true });
  const suggestions = h("datalist", { id: "model-suggestions" });
  const backendField = field({
    id: "f-backend",
    name: "ai_backend",
    label: "Backend",
    control: "select",
    required: true,
    options: backends.map((backend) => [backend.name, backendLabel(backend)]),
    hint: " ",
  });
  const backendSelect = backendField.querySelector("select");
  backendSelect.value = agent?.ai_backend || backendList.default_backend || backends[0]?.name || "";
  const backendHint = backendField.querySelector(".hint");

  const providerChoice = field({
    id: "f-provider",
    name: "provider",
    label: "Provider",
    control: "select",
    options: PROVIDER_POLICIES,
    hint: "Which Hugging Face provider serves the model: a policy or a provider name (together, cerebras…).",
  });
  const providerName = field({
    id: "f-provider-name",
    name: "provider_name",
    label: "Provider name",
    attrs: { autocomplete: "off", spellcheck: "false" },
  });
  const providerSelect = providerChoice.querySelector("select");
  const providerInput = providerName.querySelector("input");
  if (!config.provider) providerSelect.value = "auto";
  else if (config.provider === "fastest" || config.provider === "cheapest") providerSelect.value = config.provider;
  else {
    providerSelect.value = "other";
    providerInput.value = config.provider;
  }
  const providerGroup = h("div", { class: "provider-group" }, providerChoice, providerName);

  const modelField = field({
    id: "f-model",
    name: "model",
    label: "Model",
    value: config.model,
    hint: "A model id such as org/model or name:tag. Empty: the backend's default.",
    attrs: { list: "model-suggestions", autocomplete: "off", spellcheck: "false" },
  });
  const modelInput = modelField.querySelector("input");

  const known = builtinTools();
  const chosen = new Set(agent?.tools || []);
  const toolNames = [...known, ...[...chosen].filter((name) => !known.includes(name))];
  const tools = h(
    "fieldset",
    { class: "field tools", id: "f-tools", "aria-describedby": "f-tools-error f-tools-hint" },
    h("legend", { text: "Tools" }),
    toolNames.map((name) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "tools", value: name, checked: chosen.has(name) }),
        ` ${name}`,
      ),
    ),
    h("p", {
      class: "hint",
      id: "f-tools-hint",
      text: "Builtin tools work inside the server's workspace folder (CW_WORKSPACE).",
    }),
    h("p", { class: "field-error", id: "f-tools-error", hidden: true }),
  );

  const statusField = field({
    id: "f-status",
    name: "status",
    label: "Status",
    control: "select",
    options: [
      ["active", "Active"],
      ["inactive", "Inactive"],
    ],
    value: agent?.status || "active",
  });

  const form = h(
    "form",
    { class: "card agent-form", novalidate: true, "aria-labelledby": "agent-form-title" },
    general,
    field({ id: "f-name", name: "name", label: "Name", required: true, value: agent?.name, attrs: { maxlength: "255" } }),
    field({ id: "f-description", name: "description", label: "Description", value: agent?.description }),
    field({
      id: "f-system-prompt",
      name: "system_prompt",
      label: "System prompt",
      control: "textarea",
      value: agent?.system_prompt,
      attrs: { rows: "4" },
    }),
    backendField,
    suggestions,
    modelField,
    providerGroup,
    h(
      "div",
      { class: "number-row" },
      NUMBERS.map(([key, id, label, hint, step, min, max]) =>
        field({
          id,
          name: key,
          label,
          type: "number",
          hint,
          value: config[key],
          attrs: { step, min, max, inputmode: "decimal" },
        }),
      ),
    ),
    tools,
    statusField,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: editing ? "Save" : "Create agent" }),
      h("a", {
        class: "button secondary",
        href: editing ? `#/agents/${encodeURIComponent(agentId)}` : "#/agents",
        text: "Cancel",
      }),
    ),
  );

  let modelsRequest = 0;
  async function loadModels() {
    const name = backendSelect.value;
    const backend = backends.find((item) => item.name === name);
    backendHint.textContent = backend?.error
      ? `Not ready: ${backend.error}`
      : `Status: ${backend?.status || "unknown"}${backend?.model ? ` · default model ${backend.model}` : ""}`;
    modelInput.placeholder = backend?.model || "";
    providerGroup.hidden = name !== "huggingface";
    providerName.hidden = providerSelect.value !== "other";
    const request = ++modelsRequest;
    suggestions.replaceChildren();
    try {
      const result = await api(`/ai-backends/${encodeURIComponent(name)}/models`);
      if (request !== modelsRequest) return; // the backend changed meanwhile
      for (const model of result.models || []) {
        const id = typeof model === "string" ? model : model.name || model.id;
        if (id) suggestions.append(h("option", { value: id }));
      }
    } catch (error) {
      if (request === modelsRequest) backendHint.textContent += ` · models unavailable: ${error.message}`;
    }
  }
  backendSelect.addEventListener("change", loadModels);
  providerSelect.addEventListener("change", () => {
    providerName.hidden = providerSelect.value !== "other";
    if (!providerName.hidden) providerInput.focus();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const local = {};
    const modelConfig = { ...(agent?.model_config || {}) };
    delete modelConfig.provider;
    const model = modelInput.value.trim();
    if (model) modelConfig.model = model;
    else delete modelConfig.model;
    for (const [key, id] of NUMBERS) {
      const input = document.getElementById(id);
      if (input.validity.badInput) local[`model_config.${key}`] = ["Enter a number."];
      else if (input.value.trim() === "") delete modelConfig[key];
      else modelConfig[key] = Number(input.value);
    }
    if (backendSelect.value === "huggingface") {
      if (providerSelect.value === "other") {
        const name = providerInput.value.trim();
        if (name) modelConfig.provider = name;
        else local["model_config.provider"] = ["Type a provider name, or choose a policy."];
      } else if (providerSelect.value !== "auto") modelConfig.provider = providerSelect.value;
    }
    const idFor = (key) => {
      if (key === "model_config.provider") return providerSelect.value === "other" ? "f-provider-name" : "f-provider";
      if (key === "tools" || key.startsWith("tools.")) return "f-tools";
      return ERROR_FIELDS[key] || null;
    };
    if (Object.keys(local).length) {
      showErrors(form, local, general, "Please correct the fields marked below.", idFor);
      return;
    }
    const body = {
      name: form.elements.name.value,
      description: form.elements.description.value,
      system_prompt: form.elements.system_prompt.value,
      ai_backend: backendSelect.value,
      model_config: modelConfig,
      tools: [...form.querySelectorAll('input[name="tools"]:checked')].map((box) => box.value),
      status: form.elements.status.value,
    };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showErrors(form, {}, general, null, idFor);
    try {
      const saved = editing
        ? await api(`/agents/${encodeURIComponent(agentId)}`, { method: "PUT", body })
        : await api("/agents", { method: "POST", body });
      announce(editing ? `Saved ${saved.name}` : `Created ${saved.name}`);
      window.location.hash = `#/agents/${encodeURIComponent(saved.id)}`;
    } catch (error) {
      const errors = error instanceof ApiError ? error.errors : {};
      const keyed = Object.keys(errors).length > 0;
      showErrors(form, errors, general, keyed ? error.message || "Please correct the fields marked below." : error.message, idFor);
    } finally {
      button.disabled = false;
    }
  });

  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/agents", text: "← Agents" })),
    h("h1", { id: "agent-form-title", text: editing ? `Edit ${agent.name}` : "New agent" }),
    form,
  );
  await loadModels();
  document.getElementById("f-name").focus();
}
