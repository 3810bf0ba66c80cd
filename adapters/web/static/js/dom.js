// Small DOM helpers. Text always goes in as text nodes: the only HTML the page ever parses
// is the sanitized markdown of markdown.js.

/**
 * Create an element: h("button", {type: "button", onclick: fn, class: "x"}, "Label", child).
 * Attributes: ``class``, ``text``, ``for``, ``on<event>`` (a function), ``dataset`` (an
 * object), booleans (set when true, left out when false), anything else via setAttribute.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "value") element.value = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace the children of ``element``. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Say ``text`` to screen readers (the polite live region of the page). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 30);
}

let ids = 0;
/** A fresh element id with ``prefix``. */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A date as the reader's locale shows it ("" for nothing). */
export function when(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** Ask a yes/no question in a modal <dialog>; resolves true for the confirming button. */
export function ask(question, { confirm = "Delete", cancel = "Cancel", danger = true } = {}) {
  return new Promise((resolve) => {
    const title = uid("dialog-title");
    const dialog = h(
      "dialog",
      { class: "confirm-dialog", "aria-labelledby": title },
      h("p", { id: title, text: question }),
      h(
        "form",
        { method: "dialog", class: "dialog-actions" },
        h("button", { value: "cancel", class: "secondary", text: cancel }),
        h("button", { value: "confirm", class: danger ? "danger" : "primary", text: confirm }),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
}
