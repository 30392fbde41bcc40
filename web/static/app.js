// Progressive enhancement only: every page works without this file.
// - GOV.UK Frontend's components (error summary focus, buttons, navigation, details);
// - the session time-out warning (GOV.UK "manage a session time out" pattern);
// - drafts: text typed into a note or reason is kept in the tab, and when the session times
//   out the server keeps it for its person, so it survives signing in again (in a new tab
//   opened from the emailed link, or another browser).
import { initAll } from "./vendor/govuk-frontend.min.js";

document.body.classList.add("govuk-frontend-supported", "js-enabled");
initAll();

const DRAFT = "alongside-draft:";
const TAKEN = "alongside-drafts-taken"; // this tab has asked the server for kept drafts

function draftKey(field) {
  const form = field.form;
  return DRAFT + location.pathname + ":" + (form ? form.getAttribute("action") : "") + ":" + field.name;
}

function fillDrafts(root) {
  root.querySelectorAll("textarea[data-draft]").forEach((field) => {
    const saved = sessionStorage.getItem(draftKey(field));
    if (saved && !field.value) {
      field.value = saved;
      const details = field.closest("details");
      if (details) details.open = true;
    }
  });
}

function keepDrafts(root) {
  fillDrafts(root);
  root.querySelectorAll("textarea[data-draft]").forEach((field) => {
    field.addEventListener("input", () => sessionStorage.setItem(draftKey(field), field.value));
    if (field.form) field.form.addEventListener("submit", () => sessionStorage.removeItem(draftKey(field)));
  });
}

function drafts() {
  const found = {};
  Object.keys(sessionStorage).filter((k) => k.startsWith(DRAFT))
    .forEach((k) => { found[k.slice(DRAFT.length)] = sessionStorage.getItem(k); });
  return found;
}

function forgetAllDrafts() {
  Object.keys(drafts()).forEach((k) => sessionStorage.removeItem(DRAFT + k));
  sessionStorage.removeItem(TAKEN);
}

function csrfToken() {
  const token = document.querySelector("input[name=csrftoken]");
  return token ? token.value : "";
}

// Text kept by the server when a session timed out (in this tab or another browser):
// the first signed-in page of a tab takes it back, once.
async function takeKeptDrafts() {
  sessionStorage.setItem(TAKEN, "1");
  const response = await fetch("/session/drafts", {
    method: "POST", credentials: "same-origin", headers: { "x-csrftoken": csrfToken() },
  });
  if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) return;
  const kept = await response.json();
  Object.entries(kept).forEach(([key, text]) => {
    if (!sessionStorage.getItem(DRAFT + key)) sessionStorage.setItem(DRAFT + key, text);
  });
  fillDrafts(document);
}

keepDrafts(document);
document.body.addEventListener("htmx:afterSwap", (event) => keepDrafts(event.target));
document.querySelectorAll("[data-sign-out]").forEach((button) =>
  button.addEventListener("click", forgetAllDrafts));
if (document.body.dataset.sessionExpiresIn && !sessionStorage.getItem(TAKEN)) takeKeptDrafts();

// The session time-out warning.
const body = document.body;
const dialog = document.getElementById("session-warning");
if (dialog && body.dataset.sessionExpiresIn) {
  const warnBefore = Number(body.dataset.sessionWarnBefore || 120) * 1000;
  const countdown = dialog.querySelector("[data-countdown]");
  let endsAt = Date.now() + Number(body.dataset.sessionExpiresIn) * 1000;
  let warnTimer, endTimer, tick;
  let opener = null;

  const words = (ms) => {
    const s = Math.max(0, Math.ceil(ms / 1000));
    return s >= 60 ? `${Math.ceil(s / 60)} minute${Math.ceil(s / 60) === 1 ? "" : "s"}` : `${s} second${s === 1 ? "" : "s"}`;
  };
  const schedule = () => {
    clearTimeout(warnTimer); clearTimeout(endTimer); clearInterval(tick);
    const left = endsAt - Date.now();
    warnTimer = setTimeout(warn, Math.max(0, left - warnBefore));
    endTimer = setTimeout(timedOut, Math.max(0, left));
  };
  // Out of time: the server ends the session and keeps what was typed, for signing in again.
  const timedOut = async () => {
    try {
      await fetch("/session/time-out", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: { "x-csrftoken": csrfToken(), "content-type": "application/json" },
        body: JSON.stringify(drafts()),
      });
    } finally {
      sessionStorage.removeItem(TAKEN);
      location.href = "/sign-in?signed_out=timeout&next=" + encodeURIComponent(location.pathname);
    }
  };
  const warn = () => {
    opener = document.activeElement;
    countdown.textContent = words(endsAt - Date.now());
    tick = setInterval(() => { countdown.textContent = words(endsAt - Date.now()); }, 20000);
    if (!dialog.open) dialog.showModal();
  };
  dialog.querySelector("[data-stay-signed-in]").addEventListener("click", async () => {
    const response = await fetch("/session/extend", {
      method: "POST", credentials: "same-origin", headers: { "x-csrftoken": csrfToken() },
    });
    if (response.ok) {
      endsAt = Date.now() + Number(response.headers.get("X-Session-Expires-In") || 0) * 1000;
      dialog.close();
      if (opener) opener.focus();
      schedule();
    } else {
      location.href = "/sign-in?signed_out=timeout";
    }
  });
  // Any request the page makes (htmx) restarts the server's idle clock: restart ours.
  body.addEventListener("htmx:afterRequest", (event) => {
    const left = event.detail.xhr && event.detail.xhr.getResponseHeader("X-Session-Expires-In");
    if (left) { endsAt = Date.now() + Number(left) * 1000; schedule(); }
  });
  schedule();
}
