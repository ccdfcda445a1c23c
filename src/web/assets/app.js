// Shared by the sortwatch pages: API calls, live events, formatting.
"use strict";

async function api(path, opts = {}) {
  const init = { credentials: "same-origin", ...opts };
  if (opts.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(opts.json);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (res.status === 401 && !opts.noRedirect) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
  }
  if (!res.ok) throw new Error((body && body.error) || res.statusText);
  return body;
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function pct(rate) {
  return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%";
}

function rateClass(rate) {
  if (rate === null || rate === undefined) return "dim";
  return rate >= 0.98 ? "good" : rate >= 0.95 ? "warn" : "bad";
}

// What happened, in words: "Thrown: dropped 72 cm, 140 cm far" / "Kicked 85 cm".
function describe(v) {
  const cm = x => (x === null || x === undefined ? null : Math.round(x) + " cm");
  if (v.kind === "kick") {
    return "Kicked" + (cm(v.kick_distance_cm) ? ": moved " + cm(v.kick_distance_cm) : "");
  }
  const parts = [];
  if (cm(v.drop_height_cm)) parts.push("dropped " + cm(v.drop_height_cm));
  if (cm(v.throw_distance_cm)) parts.push("thrown " + cm(v.throw_distance_cm));
  return "Thrown" + (parts.length ? ": " + parts.join(", ") : "");
}

function localTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
}

// Live updates: calls handlers[kind](data); `onState(true|false)` tracks the link.
function live(handlers, onState) {
  const es = new EventSource("/api/events");
  for (const kind of ["compliance", "violation", "verdict", "clip", "resync"]) {
    es.addEventListener(kind, e => handlers[kind] && handlers[kind](JSON.parse(e.data)));
  }
  es.onopen = () => onState && onState(true);
  es.onerror = () => onState && onState(false);
  return es;
}

function linkPill(el) {
  return up => {
    el.textContent = up ? "live" : "reconnecting…";
    el.className = "pill " + (up ? "live" : "down");
  };
}

async function logout() {
  await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
  location.href = "/login";
}
