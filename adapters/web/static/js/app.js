// The page's entry point: a hash router over the views. Each view is a function
// (main, params) -> optional cleanup, and gets the whole <main> to fill in.

import { api, session } from "./api.js";
import { announce, h, replace } from "./dom.js";
import { agentPage, agentsList } from "./views/agents.js";
import { agentForm } from "./views/agent_form.js";
import { authView } from "./views/auth.js";
import { chatView } from "./views/chat.js";
import { modelsView } from "./views/models.js";

const ROUTES = [
  [/^#\/login$/, authView, { public: true }],
  [/^#\/agents$/, agentsList, { nav: "agents" }],
  [/^#\/agents\/new$/, agentForm, { nav: "agents" }],
  [/^#\/agents\/([^/]+)\/edit$/, agentForm, { nav: "agents" }],
  [/^#\/agents\/([^/]+)$/, agentPage, { nav: "agents" }],
  [/^#\/conversations\/([^/]+)$/, chatView, { nav: "agents" }],
  [/^#\/models$/, modelsView, { nav: "models" }],
];

const main = document.getElementById("main");
let cleanup = null;

function showNav() {
  const nav = document.querySelector(".topnav");
  const user = session.user;
  nav.hidden = !session.token;
  document.getElementById("whoami").textContent = user ? user.name || user.email : "";
}

async function route() {
  // `cw serve --demo` prints a link carrying a token in the fragment: keep it, then drop it
  // from the address bar (a fragment never reaches the server or its logs).
  const tokenMatch = /^#token=([^&]+)/.exec(window.location.hash);
  if (tokenMatch) {
    session.save(decodeURIComponent(tokenMatch[1]), null);
    history.replaceState(null, "", "#/agents");
  }
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const hash = window.location.hash || "#/agents";
  const found = ROUTES.map(([pattern, view, options]) => [pattern.exec(hash), view, options]).find(([m]) => m);
  if (!found) {
    window.location.hash = "#/agents";
    return;
  }
  const [match, view, options] = found;
  if (!options.public && !session.token) {
    sessionStorage.setItem("cw.after-login", hash);
    window.location.hash = "#/login";
    return;
  }
  if (session.token && !session.user) {
    try {
      const user = await api("/auth/user");
      session.save(null, user.user || user);
    } catch {
      /* a 401 signs out and routes again */
    }
  }
  showNav();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === options.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  replace(main);
  try {
    cleanup = await view(main, match.slice(1).map(decodeURIComponent));
  } catch (error) {
    replace(main, h("p", { class: "error-box", role: "alert", text: error.message || String(error) }));
  }
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} — Chinese Worker` : "Chinese Worker";
}

async function signOut() {
  try {
    await api("/auth/logout", { method: "POST" });
  } catch {
    /* the token is dropped either way */
  }
  session.clear();
  announce("Signed out");
  window.location.hash = "#/login";
  showNav();
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
window.addEventListener("cw:signed-out", () => {
  showNav();
  if (window.location.hash !== "#/login") window.location.hash = "#/login";
});
route();
