// Progressive enhancement only: every page works without this file.
// - GOV.UK Frontend's components (error summary focus, buttons, navigation, details);
// - the session time-out warning (GOV.UK "manage a session time out" pattern);
// - drafts: text typed into a note or reason survives being signed out and signing in again.
import { initAll } from "./vendor/govuk-frontend.min.js";

document.body.classList.add("govuk-frontend-supported", "js-enabled");
initAll();

const DRAFT = "alongside-draft:";

function draftKey(field) {
  const form = field.form;
  return DRAFT + location.pathname + ":" + (form ? form.getAttribute("action") : "") + ":" + field.name;
}

function restoreDrafts(root) {
  root.querySelectorAll("textarea[data-draft]").forEach((field) => {
    const saved = sessionStorage.getItem(draftKey(field));
    if (saved && !field.value) field.value = saved;
    field.addEventListener("input", () => sessionStorage.setItem(draftKey(field), field.value));
    if (field.form) field.form.addEventListener("submit", () => sessionStorage.removeItem(draftKey(field)));
  });
}

function forgetAllDrafts() {
  Object.keys(sessionStorage).filter((k) => k.startsWith(DRAFT)).forEach((k) => sessionStorage.removeItem(k));
}

restoreDrafts(document);
document.body.addEventListener("htmx:afterSwap", (event) => restoreDrafts(event.target));
document.querySelectorAll("[data-sign-out]").forEach((button) =>
  button.addEventListener("click", forgetAllDrafts));

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
    endTimer = setTimeout(() => { location.href = "/sign-in?signed_out=timeout&next=" + encodeURIComponent(location.pathname); }, Math.max(0, left));
  };
  const warn = () => {
    opener = document.activeElement;
    countdown.textContent = words(endsAt - Date.now());
    tick = setInterval(() => { countdown.textContent = words(endsAt - Date.now()); }, 20000);
    if (!dialog.open) dialog.showModal();
  };
  dialog.querySelector("[data-stay-signed-in]").addEventListener("click", async () => {
    const token = document.querySelector("input[name=csrftoken]");
    const response = await fetch("/session/extend", {
      method: "POST", credentials: "same-origin",
      headers: { "x-csrftoken": token ? token.value : "" },
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
