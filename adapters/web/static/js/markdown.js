// Model output as markdown, with no way in for HTML or script.
//
// Two walls: marked's HTML tokens are rendered as escaped text (a model writing
// `<img src=x onerror=...>` shows exactly that, as text), and the result still goes
// through DOMPurify before it touches the DOM. The page's Content-Security-Policy (no
// inline script) is the third.

import { Marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.esm.js";

export function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({
  renderer: {
    html(token) {
      return escapeHtml(token.text ?? token.raw ?? "");
    },
  },
});

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed"],
  FORBID_ATTR: ["style", "srcset"],
  ALLOW_DATA_ATTR: false,
};

/** Markdown ``text`` as sanitized HTML. */
export function renderMarkdown(text) {
  const html = marked.parse(String(text ?? ""));
  return purifier.sanitize(html, SANITIZE);
}

/** Show markdown ``text`` in ``element``. */
export function setMarkdown(element, text) {
  element.innerHTML = renderMarkdown(text);
}
