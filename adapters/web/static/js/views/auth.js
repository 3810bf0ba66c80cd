// Sign in and register: the token returned is kept in sessionStorage.

import { api, ApiError, session } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "./forms.js";

function afterLogin(result) {
  session.save(result.token, result.user);
  announce(`Signed in as ${result.user?.name || result.user?.email || ""}`);
  const next = sessionStorage.getItem("cw.after-login") || "#/agents";
  sessionStorage.removeItem("cw.after-login");
  window.location.hash = next === "#/login" ? "#/agents" : next;
}

function authForm({ id, title, fields, submit, path }) {
  const general = h("p", { class: "error-box", role: "alert", tabindex: "-1", hidden: true });
  const form = h(
    "form",
    { class: "card auth-form", id, novalidate: true, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title`, text: title }),
    general,
    ...fields.map((spec) => field({ ...spec, id: `${id}-${spec.name}`, attrs: { autocomplete: spec.autocomplete } })),
    h("button", { type: "submit", class: "primary", text: submit }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = Object.fromEntries(fields.map((spec) => [spec.name, form.elements[spec.name].value]));
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    showErrors(form, {}, general, null);
    try {
      afterLogin(await api(path, { method: "POST", body }));
    } catch (error) {
      const message =
        error instanceof ApiError && error.status === 401 ? "Wrong email or password." : error.message;
      showErrors(form, error.errors || {}, general, message, (name) => `${id}-${name}`);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function authView(main) {
  main.append(
    h("h1", { text: "Sign in" }),
    h(
      "div",
      { class: "auth-grid" },
      authForm({
        id: "login",
        title: "I have an account",
        submit: "Sign in",
        path: "/auth/login",
        fields: [
          { name: "email", label: "Email", type: "email", autocomplete: "username", required: true },
          {
            name: "password",
            label: "Password",
            type: "password",
            autocomplete: "current-password",
            required: true,
          },
        ],
      }),
      authForm({
        id: "register",
        title: "Create an account",
        submit: "Register",
        path: "/auth/register",
        fields: [
          { name: "name", label: "Name", autocomplete: "name", required: true },
          { name: "email", label: "Email", type: "email", autocomplete: "email", required: true },
          {
            name: "password",
            label: "Password",
            type: "password",
            autocomplete: "new-password",
            required: true,
            hint: "At least 8 characters.",
          },
        ],
      }),
    ),
  );
  main.querySelector("#login-email").focus();
}
