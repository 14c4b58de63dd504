// Passerelle merchant inbox: the conversations a merchant's mini-apps
// handed to its team (chat.handoff), answered over /v1/handoffs
// (gateway/api/API.md). A member of staff signs in with the one-time link
// the merchant made: the session lives in HttpOnly cookies this script
// never sees, refreshed when its access token expires. The merchant may
// sign in with its API token instead, kept in this tab only.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const S = {
    member: null, // {id, name} when a member of staff is signed in
    refreshing: null, // the refresh under way, shared by every request
    token: sessionStorage.getItem("inbox.token") || "",
    agent: sessionStorage.getItem("inbox.agent") || "",
    version: null, // the inbox version the last list answer gave
    list: [],
    sel: null, // id of the conversation shown
    shown: null, // its handoff as last read
    lastSeq: 0,
    answerUntil: 0, // until when Messenger or Instagram take a person's answer
    all: false,
    gen: 0, // bumped to stop a watch loop
    abort: null,
  };

  class APIError extends Error {
    constructor(message, status, code) { super(message); this.status = status; this.code = code; }
  }

  async function call(method, path, body, signal) {
    const opt = { method, headers: {}, signal, credentials: "same-origin" };
    if (!S.member && S.token) opt.headers.Authorization = "Bearer " + S.token;
    if (body) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    const r = await fetch(path, opt);
    let data = null;
    try { data = await r.json(); } catch (e) { /* not JSON, or no body */ }
    if (!r.ok) {
      const e = (data && data.error) || {};
      throw new APIError(e.message || "the server answered " + r.status, r.status, e.code || "");
    }
    return data;
  }

  // refresh renews a member's session once, for every request waiting.
  function refresh() {
    if (!S.refreshing) {
      S.refreshing = call("POST", "/v1/staff/session/refresh").finally(() => { S.refreshing = null; });
    }
    return S.refreshing;
  }

  async function api(method, path, body, signal) {
    try {
      return await call(method, path, body, signal);
    } catch (err) {
      // An access token expired (its cookie may be gone with it): refresh.
      if (!S.member || (err.code !== "session_expired" && err.code !== "unauthorized")) throw err;
      let d;
      try {
        d = await refresh();
      } catch (ended) { // signed out elsewhere, removed, or expired: sign in again
        if (ended.status === 401) showSignIn("Your session ended: " + ended.message);
        throw ended;
      }
      S.member = d.member;
      return call(method, path, body, signal);
    }
  }

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") n.textContent = v;
      else if (k === "class") n.className = v;
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k) n.append(k);
    return n;
  }

  const say = (text) => { $("status").textContent = ""; setTimeout(() => { $("status").textContent = text; }, 30); };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const when = (ms) => new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const statusText = (h) => h.status === "waiting" ? "Waiting" : h.status === "taken" ? "With " + h.agent : "Handed back";
  const surfaceName = (s) => ({ web: "Web", whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram" })[s] || s || "—";

  // ---- sign-in ----

  function showSignIn(reason) {
    S.gen++;
    if (S.abort) S.abort.abort();
    S.member = null;
    $("app").hidden = true;
    $("signin").hidden = false;
    $("signin-error").hidden = !reason;
    $("signin-error").textContent = reason || "";
    $("signin-agent").value = S.agent;
    $("signin-token").value = ""; // a refused or ended token is of no use
    if ($("owner").open) $("signin-token").focus();
    else $("signin-link").focus();
  }

  // signInWith exchanges a sign-in link's one-time code for a session.
  async function signInWith(code) {
    try {
      const d = await call("POST", "/v1/staff/session", { code });
      sessionStorage.removeItem("inbox.token");
      S.token = "";
      S.member = d.member;
      S.agent = d.member.name;
      start();
    } catch (err) {
      showSignIn(err.status === 401 || err.status === 400
        ? "That link did not sign you in: " + err.message
        : "The server could not be reached (" + err.message + "). Try again.");
    }
  }

  $("link-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("signin-link").value.trim();
    const m = /signin=([^&\s]+)/.exec(v);
    $("signin-link").value = "";
    signInWith(m ? decodeURIComponent(m[1]) : v);
  });

  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    S.member = null;
    S.token = $("signin-token").value.trim();
    S.agent = $("signin-agent").value.trim();
    try {
      await api("GET", "/v1/handoffs");
    } catch (err) {
      showSignIn(err.status === 401 || err.status === 403
        ? "That token was refused (" + err.message + "). Ask your operator for a merchant token."
        : "The server could not be reached (" + err.message + "). Try again.");
      return;
    }
    sessionStorage.setItem("inbox.token", S.token);
    sessionStorage.setItem("inbox.agent", S.agent);
    $("signin-token").value = "";
    start();
  });

  $("signout").addEventListener("click", async () => {
    if (S.member) {
      try { await call("DELETE", "/v1/staff/session"); } catch (e) { /* the session may have ended already */ }
    }
    sessionStorage.removeItem("inbox.token");
    S.token = "";
    showSignIn("");
  });

  // ---- the list, kept live ----

  function start() {
    $("signin").hidden = true;
    $("app").hidden = false;
    $("me").textContent = "as " + S.agent + (S.member ? "" : " (merchant)");
    S.version = null;
    watch(++S.gen);
  }

  async function watch(gen) {
    while (gen === S.gen) {
      S.abort = new AbortController();
      try {
        const q = "/v1/handoffs?status=" + (S.all ? "all" : "open") + (S.version === null ? "" : "&wait=" + S.version);
        const d = await api("GET", q, null, S.abort.signal);
        if (gen !== S.gen) return;
        const fresh = S.version === null;
        S.version = d.version;
        S.list = d.handoffs || [];
        renderList();
        if (S.sel) await loadConv(false);
        if (fresh && S.list.length) say(S.list.length + " conversation" + (S.list.length === 1 ? "" : "s") + " in the inbox");
      } catch (err) {
        if (gen !== S.gen || err.name === "AbortError") return;
        if (err.status === 401 || err.status === 403) {
          showSignIn("Your session ended (" + err.message + ")." + (S.member ? " Ask your merchant for a new sign-in link." : " Sign in again."));
          return;
        }
        await sleep(2000);
      }
    }
  }

  $("show-all").addEventListener("change", (e) => {
    S.all = e.target.checked;
    S.version = null;
    if (S.abort) S.abort.abort();
    watch(++S.gen);
  });

  function renderList() {
    const ul = $("list");
    ul.replaceChildren();
    $("empty").hidden = S.list.length > 0;
    for (const h of S.list) {
      const b = el("button", { type: "button", "aria-current": h.id === S.sel ? "true" : "false", "data-id": h.id },
        el("span", { class: "top" },
          el("span", { class: "app", text: h.app }),
          el("span", { class: "badge", text: surfaceName(h.surface) }),
          el("span", { class: "badge " + h.status, text: statusText(h) })),
        el("span", { class: "reason", text: h.reason }),
        el("span", { class: "when", text: when(h.created) }));
      b.addEventListener("click", () => select(h.id));
      ul.append(el("li", {}, b));
    }
  }

  // ---- one conversation ----

  async function select(id) {
    S.sel = id;
    S.lastSeq = 0;
    S.shown = null;
    S.answerUntil = 0;
    $("messages").replaceChildren();
    renderList();
    $("app").dataset.pane = "conv";
    await loadConv(true);
    $("reply-text").focus();
  }

  $("back").addEventListener("click", () => { $("app").dataset.pane = "list"; });

  async function loadConv(first) {
    const id = S.sel;
    let d;
    try {
      d = await api("GET", "/v1/handoffs/" + encodeURIComponent(id) + (S.lastSeq ? "?after=" + S.lastSeq : ""));
    } catch (err) {
      say("The conversation could not be read: " + err.message);
      return;
    }
    if (id !== S.sel) return;
    S.shown = d.handoff;
    renderConv(d, first);
  }

  function renderConv(d, first) {
    const h = d.handoff;
    $("conv-body").hidden = false;
    $("conv-title").textContent = h.app + " · " + surfaceName(h.surface);
    const dl = $("context");
    dl.replaceChildren();
    const row = (k, v) => { if (v) dl.append(el("dt", { text: k }), el("dd", { text: v })); };
    row("Reason", h.reason);
    row("Summary", h.summary);
    for (const [k, v] of Object.entries(h.fields || {})) row(k, v);
    row("Person", h.user);
    row("Surface", surfaceName(h.surface));
    row("Status", statusText(h));
    row("Answered by", (h.answered || []).map((a) => a.id && S.member && a.id === S.member.id ? a.name + " (you)" : a.name).join(", "));
    row("Handed off", when(h.created));
    if (d.answer_until) S.answerUntil = d.answer_until; // only reads with the person's messages carry it
    if (S.answerUntil) row("Answer until", when(S.answerUntil) + " (" + surfaceName(h.surface) + " allows a person's answers for 7 days after the customer's last message)");
    const ol = $("messages");
    let added = 0;
    for (const m of d.messages || []) {
      if (m.seq <= S.lastSeq) continue;
      S.lastSeq = m.seq;
      ol.append(message(m, h));
      added++;
    }
    if (added) {
      ol.scrollTop = ol.scrollHeight;
      if (!first) {
        const last = d.messages[d.messages.length - 1];
        if (last.from === "person") say("New message from the person: " + text(last));
      }
    }
    const open = h.status !== "returned";
    $("reply").hidden = !open;
    $("handback").hidden = !open;
    $("closed").hidden = open;
    $("closed").textContent = open ? "" : "Handed back to the app by " + h.agent + (h.note ? ": " + h.note : "") + ".";
  }

  function text(m) {
    const msg = m.message || {};
    if (msg.text) return msg.text;
    const c = msg.card;
    if (!c) return "";
    const parts = [c.title, c.text].filter(Boolean);
    for (const b of c.buttons || []) parts.push("[" + b.title + "]");
    for (const it of (c.list && c.list.items) || []) parts.push("• " + it.title);
    return parts.join("\n");
  }

  function message(m, h) {
    const who = m.from === "person" ? "Person"
      : m.from === "agent" ? (m.agent === S.agent ? m.agent + " (you)" : m.agent)
      : m.from === "page" ? (m.agent || "Your team") + " (from " + surfaceName(m.surface || h.surface) + "'s own inbox)"
      : h.app + " (app)";
    return el("li", { class: m.from },
      el("span", { class: "from", text: who }),
      document.createTextNode(text(m)),
      el("time", { datetime: new Date(m.time).toISOString(), text: when(m.time) }));
  }

  $("reply").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ta = $("reply-text");
    const body = ta.value.trim();
    if (!body || !S.sel) return;
    const btn = e.submitter || $("reply").querySelector("button");
    btn.disabled = true;
    try {
      await api("POST", "/v1/handoffs/" + encodeURIComponent(S.sel) + "/reply", S.member ? { text: body } : { agent: S.agent, text: body });
      ta.value = "";
      say("Sent");
      await loadConv(false);
    } catch (err) {
      say("Not sent: " + err.message);
      alertBox(err.message);
    } finally {
      btn.disabled = false;
      ta.focus();
    }
  });

  $("handback").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!S.sel) return;
    try {
      const note = $("handback-note").value.trim();
      await api("POST", "/v1/handoffs/" + encodeURIComponent(S.sel) + "/handback", S.member ? { note } : { agent: S.agent, note });
      $("handback-note").value = "";
      say("Handed back to the app");
      await loadConv(false);
    } catch (err) {
      alertBox(err.message);
    }
  });

  function alertBox(msg) {
    let p = $("conv-error");
    if (!p) {
      p = el("p", { id: "conv-error", class: "error", role: "alert" });
      $("conv-body").prepend(p);
    }
    p.textContent = msg;
    setTimeout(() => p.remove(), 8000);
  }

  // A member's sign-in link carries its one-time code in the fragment
  // (#signin=...), and a merchant's link may carry the token (#token=...,
  // as the demo prints it): a fragment never reaches the server's logs,
  // and it leaves the address bar at once.
  const hash = new URLSearchParams(location.hash.slice(1));
  const code = hash.get("signin");
  const linked = hash.get("token");
  if (code || linked) history.replaceState(null, "", location.pathname);
  if (code) {
    signInWith(code);
  } else {
    if (linked) {
      S.token = linked;
      sessionStorage.setItem("inbox.token", linked);
    }
    if (S.token && S.agent) start();
    else if (S.token) { // only the name is missing
      $("owner").open = true;
      showSignIn("");
      $("signin-token").value = S.token;
      $("signin-agent").focus();
    } else memberSession();
  }

  // memberSession resumes a member's session, if this browser has one.
  async function memberSession() {
    try {
      let d;
      try {
        d = await call("GET", "/v1/staff/session");
      } catch (err) {
        if (err.status !== 401) throw err;
        d = await refresh();
      }
      if (!d.member) throw new Error("not a member's session");
      S.member = d.member;
      S.agent = d.member.name;
      start();
    } catch (err) {
      showSignIn("");
    }
  }
})();
