// Models of the backends that manage them (Ollama): list, pull with a live progress bar,
// delete after a confirmation.

import { api, modelPath, stream } from "../api.js";
import { announce, ask, h, replace } from "../dom.js";
import { backendLabel } from "./agent_form.js";

function size(bytes) {
  if (!bytes) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

function backendSection(backend) {
  const name = backend.name;
  const slug = name.replace(/[^a-z0-9-]/gi, "-");
  const tbody = h("tbody");
  const listProblem = h("p", { class: "error-box", role: "alert", hidden: true });
  const input = h("input", {
    id: `pull-${slug}`,
    name: "model",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "llama3.2:1b",
    "aria-describedby": `pull-${slug}-status`,
  });
  const progress = h("progress", { max: "100", value: "0", hidden: true, "aria-label": "Pull progress", id: `pull-${slug}-bar` });
  const status = h("p", { class: "pull-status", id: `pull-${slug}-status`, role: "status" });
  const button = h("button", { type: "submit", class: "primary", text: "Pull" });
  const form = h(
    "form",
    { class: "inline-form pull-form", novalidate: true },
    h("label", { for: `pull-${slug}`, text: "Model to pull" }),
    input,
    button,
  );

  async function refresh() {
    try {
      const result = await api(`/ai-backends/${encodeURIComponent(name)}/models?detailed=true`);
      const models = result.models || [];
      listProblem.hidden = true;
      replace(tbody);
      if (models.length === 0) tbody.append(h("tr", {}, h("td", { colspan: "4", text: "No models installed." })));
      for (const model of models) {
        const id = typeof model === "string" ? model : model.name || model.id;
        const row = h(
          "tr",
          { dataset: { model: id } },
          h("th", { scope: "row", text: id }),
          h("td", { text: size(model.size) }),
          h("td", { text: [model.parameter_size, model.quantization].filter(Boolean).join(" · ") }),
          h(
            "td",
            {},
            h("button", {
              type: "button",
              class: "danger small",
              text: "Delete",
              "aria-label": `Delete ${id}`,
              onclick: async () => {
                if (!(await ask(`Delete the model ${id} from ${name}? It must be pulled again to be used.`))) return;
                try {
                  await api(`/ai-backends/${encodeURIComponent(name)}/models/${modelPath(id)}`, { method: "DELETE" });
                  announce(`Deleted ${id}`);
                  await refresh();
                } catch (error) {
                  listProblem.textContent = error.message;
                  listProblem.hidden = false;
                }
              },
            }),
          ),
        );
        tbody.append(row);
      }
    } catch (error) {
      listProblem.textContent = error.message;
      listProblem.hidden = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const model = input.value.trim();
    if (!model) {
      status.textContent = "Type the name of a model to pull, e.g. llama3.2:1b.";
      input.focus();
      return;
    }
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    status.textContent = `Pulling ${model}: queued…`;
    try {
      const pull = await api(`/ai-backends/${encodeURIComponent(name)}/models/pull`, { method: "POST", body: { model } });
      const url = pull.stream_url || `/ai-backends/${encodeURIComponent(name)}/models/pull/${encodeURIComponent(pull.pull_id)}/stream`;
      // Ollama reports each layer (digest) on its own: the bar shows the bytes of every layer
      // seen so far together, and never moves back when a new layer starts.
      const layers = new Map();
      let shown = 0;
      const end = await stream(url, {
        isFinal: (type) => type === "completed" || type === "failed",
        onEvent: (type, data) => {
          if (type === "started") status.textContent = `Pulling ${model}: started`;
          else if (type === "progress") {
            if (data.digest && Number(data.total) > 0) {
              layers.set(data.digest, { total: Number(data.total), completed: Number(data.completed) || 0 });
            }
            let total = 0;
            let completed = 0;
            for (const layer of layers.values()) {
              total += layer.total;
              completed += Math.min(layer.completed, layer.total);
            }
            if (total > 0) shown = Math.max(shown, Math.floor((completed / total) * 100));
            progress.value = shown;
            const bytes = total > 0 ? ` — ${size(completed)} of ${size(total)}` : "";
            status.textContent = `Pulling ${model}: ${data.status || "downloading"}${bytes} (${shown} %)`;
          }
        },
      });
      if (end.type === "completed") {
        progress.value = 100;
        status.textContent = `Pulled ${model}: 100 %`;
        announce(`Pulled ${model}`);
        input.value = "";
        await refresh();
      } else {
        status.textContent = `The pull failed: ${end.data.error || "no reason was given"}`;
      }
    } catch (error) {
      status.textContent = `The pull failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });

  const section = h(
    "section",
    { class: "card backend-models", "aria-labelledby": `models-${slug}`, dataset: { backend: name } },
    h("h2", { id: `models-${slug}`, text: backendLabel(backend) }),
    backend.error ? h("p", { class: "hint", text: backend.error }) : null,
    listProblem,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "models" },
        h("caption", { class: "visually-hidden", text: `Models installed on ${name}` }),
        h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Model" }), h("th", { scope: "col", text: "Size" }), h("th", { scope: "col", text: "Details" }), h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Actions" })))),
        tbody,
      ),
    ),
    form,
    progress,
    status,
  );
  refresh();
  return section;
}

export async function modelsView(main) {
  main.append(h("h1", { text: "Models" }));
  const result = await api("/ai-backends");
  const managed = (result.backends || []).filter((backend) => backend.capabilities?.model_management);
  if (managed.length === 0) {
    main.append(
      h("p", {
        class: "empty",
        text: "No configured backend manages models. Ollama does: set OLLAMA_BASE_URL and restart `cw serve`.",
      }),
    );
    return;
  }
  for (const backend of managed) main.append(backendSection(backend));
}
