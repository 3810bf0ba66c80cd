// Labelled form fields with a place for their error, and the mapping of an API 422
// ({message, errors: {"model_config.temperature": ["..."]}}) onto them.

import { h } from "../dom.js";

/**
 * A labelled control. ``control``: "input" (default), "textarea" or "select" (``options``:
 * [[value, label], ...]). The hint and the error are tied to the control by aria-describedby.
 */
export function field({
  id,
  name,
  label,
  type = "text",
  hint,
  required = false,
  value,
  control = "input",
  options = [],
  attrs = {},
}) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const described = [hint ? hintId : null, errorId].filter(Boolean).join(" ");
  const common = { id, name, required, "aria-describedby": described, ...attrs };
  let input;
  if (control === "textarea") input = h("textarea", common);
  else if (control === "select") {
    input = h(
      "select",
      common,
      options.map(([optionValue, optionLabel]) => h("option", { value: optionValue, text: optionLabel })),
    );
  } else input = h("input", { type, ...common });
  if (value !== undefined && value !== null) input.value = value;
  return h(
    "div",
    { class: "field", dataset: { field: name } },
    h("label", { for: id, text: label + (required ? " *" : "") }),
    input,
    hint ? h("p", { class: "hint", id: hintId, text: hint }) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

/**
 * Show ``errors`` beside their fields in ``form`` (and the rest in ``general``).
 *
 * ``idFor(key)`` maps an API error key to a control id; keys without a control on the page
 * go to ``general`` with the key named. Nothing the person typed is touched.
 */
export function showErrors(form, errors, general, message, idFor = (key) => key) {
  for (const element of form.querySelectorAll(".field-error")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
  const leftover = [];
  let first = null;
  for (const [key, messages] of Object.entries(errors || {})) {
    const id = idFor(key);
    const control = id ? document.getElementById(id) : null;
    const slot = id ? document.getElementById(`${id}-error`) : null;
    if (control && slot) {
      slot.textContent = messages.join(" ");
      slot.hidden = false;
      control.setAttribute("aria-invalid", "true");
      first ||= control;
    } else leftover.push(`${key}: ${messages.join(" ")}`);
  }
  if (general) {
    const text = [message, ...leftover].filter(Boolean).join(" — ");
    general.textContent = text;
    general.hidden = !text;
  }
  if (first) first.focus();
  else if (general && !general.hidden) general.focus?.();
}
