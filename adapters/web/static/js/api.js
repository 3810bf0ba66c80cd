// The page's only way to the server: the public API v1, with the bearer token kept in
// sessionStorage (it lives as long as the tab and is revoked on sign-out).

import { followStream } from "./sse.js";

export const API = document.querySelector('meta[name="cw-api"]')?.content || "/api/v1";
const TOKEN_KEY = "cw.token";
const USER_KEY = "cw.user";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get user() {
    try {
      return JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
    } catch {
      return null;
    }
  },
  save(token, user) {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    if (user) sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

/** An error answer of the API: ``status``, a plain ``message`` and per-field ``errors``. */
export class ApiError extends Error {
  constructor(status, body) {
    super(messageOf(status, body));
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.errors = fieldErrors(body);
  }
}

const PLAIN = {
  0: "The server cannot be reached. Check that `cw serve` is running.",
  401: "Your session has ended. Please sign in again.",
  403: "You are not allowed to do that.",
  404: "That was not found (it may have been deleted).",
  409: "That cannot be done right now: a run is in progress or the request was already answered.",
  413: "That is too large to send.",
  502: "The AI backend failed.",
};

function messageOf(status, body) {
  if (body && typeof body.message === "string" && body.message) return body.message;
  if (body && typeof body.error === "string" && body.error) return body.error;
  if (body && typeof body.detail === "string" && body.detail) return body.detail;
  return PLAIN[status] || `The server answered HTTP ${status}.`;
}

function fieldErrors(body) {
  const errors = {};
  if (body && body.errors && typeof body.errors === "object") {
    for (const [field, messages] of Object.entries(body.errors)) {
      errors[field] = Array.isArray(messages) ? messages.map(String) : [String(messages)];
    }
  } else if (body && Array.isArray(body.detail)) {
    // FastAPI's own request validation shape: [{loc: ["body", "field"], msg}]
    for (const item of body.detail) {
      const loc = (item.loc || []).filter((part) => part !== "body").join(".");
      (errors[loc] ||= []).push(String(item.msg || "is not valid"));
    }
  }
  return errors;
}

function authHeaders() {
  const token = session.token;
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Call the API: ``api("/agents", {method: "POST", body: {...}})``; rejects with ApiError. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, null);
  }
  if (response.status === 204) return null;
  let payload = null;
  const text = await response.text();
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = { message: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && session.token) {
      session.clear();
      window.dispatchEvent(new CustomEvent("cw:signed-out"));
    }
    throw new ApiError(response.status, payload);
  }
  return payload;
}

/** Follow an SSE endpoint of the API (see sse.js followStream) with the bearer token. */
export function stream(url, options) {
  const full = url.startsWith("/api/") || url.startsWith("http") ? url : API + url;
  return followStream({ ...options, url: full, headers: authHeaders() });
}

/** Encode each segment of a path value (model ids hold "/" and ":", which stay as they are). */
export function modelPath(model) {
  return String(model).split("/").map(encodeURIComponent).join("/").replaceAll("%3A", ":");
}
