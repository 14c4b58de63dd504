// Passerelle web client: plain JS, no build step. It speaks the protocol
// described in gateway/PROTOCOL.md.
(function () {
  "use strict";

  // ---- sign-in state ----
  // A token given in the URL (the demo prints such links) is moved to the
  // tab's storage and taken out of the address bar. The token lives in
  // sessionStorage only: each tab signs in as its own person (the demo has
  // several people in one browser) and a reload keeps it. The surface
  // choice is also kept in localStorage, for new tabs.
  const hashParams = new URLSearchParams(location.hash.slice(1));
  const queryParams = new URLSearchParams(location.search.slice(1));
  const shared = { surface: true }; // kept for new tabs too
  const store = {
    get(k) { return sessionStorage.getItem("passerelle." + k) || (shared[k] && localStorage.getItem("passerelle." + k)) || ""; },
    set(k, v) { sessionStorage.setItem("passerelle." + k, v); if (shared[k]) localStorage.setItem("passerelle." + k, v); },
    del(k) { sessionStorage.removeItem("passerelle." + k); localStorage.removeItem("passerelle." + k); },
  };
  {
    const t = hashParams.get("token") || queryParams.get("token");
    if (t) store.set("token", t);
    // A surface named in the link wins once, then the person's own choice
    // (kept in storage) does: the link's is taken out of the address bar.
    const sf = hashParams.get("surface") || queryParams.get("surface");
    if (sf) store.set("surface", sf);
    queryParams.delete("token");
    queryParams.delete("surface");
    const q = queryParams.toString();
    if (t || sf || location.hash) history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
  }

  const S = {
    token: store.get("token"),
    surface: store.get("surface") || "web",
    ws: null,
    opened: false,          // the current socket opened
    person: "",
    resume: false,          // true once we hold state worth resuming
    convs: new Map(),       // id -> {id, kind, title, app, members, last, read, marks: Map(person -> marker)}
    msgs: new Map(),        // conv id -> Map(seq -> msg frame)
    active: null,           // conv id, or {to, title} for a new 1:1 conversation
    outbox: new Map(),      // client id -> {frame, conv, text, time, state: "pending"|"failed"}
    waiting: new Map(),     // request id -> callback
    prompts: [],            // unanswered prompts, oldest first
    apps: new Map(),        // app id -> {id, name, description}
    delivered: {},          // conv id -> highest seq marked delivered by this page
    seq: 0,
    retries: 0,
    reconnectTimer: null,
  };
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  // later returns a function that runs fn once, ms after its last call.
  const later = (fn, ms) => { let t = null; return () => { clearTimeout(t); t = setTimeout(fn, ms); }; };
  const newID = () => "c" + Date.now().toString(36) + "-" + (++S.seq);

  // ---- words and formats ----
  // One money format everywhere, the one the example mini-apps write too
  // (miniapps/internal/money): €12.00, -€3.00, USD 16.70, whatever the
  // browser's locale. Amounts are minor units.
  function money(amount, currency) {
    let digits = 2;
    try { digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits; } catch (e) { /* unknown code: 2 */ }
    const n = (Math.abs(amount) / Math.pow(10, digits)).toFixed(digits);
    return (amount < 0 ? "-" : "") + (currency === "EUR" ? "€" : currency + " ") + n;
  }
  const scopeWords = { "identity.profile": "your name", "identity.phone": "your phone number" };
  function listWords(items) {
    if (items.length <= 1) return items.join("");
    return items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
  }
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  const dayKey = (t) => { const d = new Date(t); return d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate(); };
  function dayLabel(t) {
    const now = new Date();
    if (dayKey(t) === dayKey(now)) return "Today";
    if (dayKey(t) === dayKey(now.getTime() - 864e5)) return "Yesterday";
    return dateFmt.format(new Date(t));
  }
  function shortTime(t) {
    if (!t) return "";
    return dayKey(t) === dayKey(Date.now()) ? timeFmt.format(new Date(t)) : shortDateFmt.format(new Date(t));
  }
  function initials(name) {
    const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
    return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
  }
  // Colours of at least 4.5:1 against white text.
  const avatarColours = ["#1a5fd0", "#8a3ffc", "#0e7a53", "#b4420a", "#a3195b", "#36566f", "#6b5200"];
  function avatar(name, kind, key) {
    let h = 0;
    for (const ch of String(key || name)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    const a = el("span", { class: "avatar" + (kind === "app" ? " app" : ""), "aria-hidden": "true", text: initials(name) });
    a.style.background = avatarColours[h % avatarColours.length];
    return a;
  }
  function senderName(from) {
    if (from.kind === "app") {
      const app = (S.apps.get(from.id) || {}).name || from.name || "Mini-app";
      return from.agent ? from.agent + " · " + app : app; // a member of the business's staff answering from its inbox
    }
    if (from.kind === "page") { // the business wrote from the network's own inbox
      return ((S.apps.get(from.id) || {}).name || from.id || "Business") + " · " + (from.name || "inbox");
    }
    return from.name || "Someone";
  }
  function preview(m) {
    const msg = m.message || {};
    if (msg.text) return msg.text;
    const c = msg.card || {};
    return c.title || c.text || "Card";
  }

  function status(state, text) {
    $("status").dataset.state = state;
    $("status").textContent = text || state;
  }

  // ---- sign-in ----
  function showSignIn(reason) {
    $("app").hidden = true;
    $("signin").hidden = false;
    $("signin-reason").hidden = !reason;
    $("signin-reason").textContent = reason || "";
    document.title = "Sign in · Passerelle";
    fetch("signin/demo", { headers: { Accept: "application/json" } }).then((r) => r.ok ? r.json() : null).then((d) => {
      const list = $("signin-list");
      list.replaceChildren();
      if (!d || !(d.people || []).length) { $("signin-people").hidden = true; return; }
      for (const p of d.people) {
        list.append(el("li", {}, el("button", {
          type: "button", "data-id": p.id, "data-testid": "signin-person",
          onclick: () => demoSignIn(p),
        }, avatar(p.name, "person", p.id), el("span", { text: p.name + (p.surface && p.surface !== "web" ? " (as on " + surfaceName(p.surface) + ")" : "") }))));
      }
      $("signin-people").hidden = false;
    }).catch(() => { $("signin-people").hidden = true; });
  }
  function surfaceName(s) { return { web: "Web", whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram" }[s] || s; }

  function demoSignIn(p) {
    fetch("signin/demo", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ person: p.id }) })
      .then((r) => r.json().then((d) => ({ ok: r.ok, d })))
      .then(({ ok, d }) => {
        if (!ok) { showSignIn((d.error || {}).message || "Sign-in failed; try again."); return; }
        if (p.surface) store.set("surface", p.surface);
        signedIn(d.token);
      })
      .catch(() => showSignIn("The server cannot be reached; try again in a moment."));
  }

  function signedIn(token) {
    S.token = token;
    store.set("token", token);
    S.surface = store.get("surface") || "web";
    $("surface-select").value = S.surface;
    $("signin").hidden = true;
    $("app").hidden = false;
    connect();
  }

  // signOut forgets the session and everything shown, then shows the
  // sign-in page with reason.
  function signOut(reason) {
    store.del("token");
    S.token = "";
    const ws = S.ws;
    S.ws = null;
    if (ws) ws.close(1000, "signed out");
    clearTimeout(S.reconnectTimer);
    S.convs = new Map(); S.msgs = new Map(); S.outbox = new Map(); S.prompts = []; S.active = null; S.resume = false;
    S.delivered = {};
    closeSheet($("prompt-sheet"));
    closeSheet($("wallet-sheet"));
    closeSheet($("consents-sheet"));
    closeSheet($("link-sheet"));
    renderConvs();
    showChat(null);
    showSignIn(reason);
  }

  // ---- connection ----
  function connect() {
    if (!S.token) { showSignIn(); return; }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    // The token travels as a subprotocol, not in the URL, so that it stays
    // out of logs and history.
    const ws = new WebSocket(proto + "//" + location.host + "/ws", ["passerelle.v1", "bearer." + S.token]);
    S.ws = ws;
    S.opened = false;
    status("connecting", "connecting…");
    ws.onopen = () => {
      S.opened = true;
      const hello = { type: "hello", v: 1, id: newID(), surface: S.surface };
      if (S.resume) {
        hello.resume = {};
        for (const [id, box] of S.msgs) hello.resume[id] = box.size ? Math.max(...box.keys()) : 0;
      }
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = (ev) => {
      if (S.ws !== ws) return;
      S.ws = null;
      S.ready = false;
      renderOutbox();
      if (ev.code === 4401) { signOut("Your session ended. Sign in again."); return; }
      if (ev.code === 4000) { status("offline", ev.reason || "This client is too old for the server; reload the page."); return; }
      // The browser hides why an upgrade was refused: ask the server
      // whether the session still holds before retrying.
      checkSession().then((ok) => {
        if (!ok || S.ws) return;
        const delay = Math.min(10000, 300 * Math.pow(2, S.retries++));
        status("offline", "offline · reconnecting in " + Math.ceil(delay / 1000) + " s");
        clearTimeout(S.reconnectTimer);
        S.reconnectTimer = setTimeout(connect, delay);
      });
    };
  }

  // checkSession resolves false (and signs out) when the server refuses the
  // token, true otherwise, a network failure included.
  function checkSession() {
    return fetch("session", { headers: { Authorization: "Bearer " + S.token }, cache: "no-store" }).then((r) => {
      if (r.status === 401 || r.status === 403) {
        return r.json().catch(() => ({})).then(() => {
          signOut(r.status === 401 ? "Your session ended. Sign in again." : "This sign-in code is not a person's; sign in as a person.");
          return false;
        });
      }
      return true;
    }, () => true);
  }

  function online() { return S.ws && S.ws.readyState === WebSocket.OPEN && S.ready; }

  function send(frame, cb) {
    if (frame.id && cb) S.waiting.set(frame.id, cb);
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(frame));
  }

  function request(frame, cb) {
    frame.id = newID();
    send(frame, cb);
  }

  function onFrame(f) {
    if (f.id && S.waiting.has(f.id) && f.type !== "msg") {
      const cb = S.waiting.get(f.id);
      S.waiting.delete(f.id);
      cb(f);
    }
    switch (f.type) {
      case "welcome":
        S.person = f.person;
        S.ready = false;
        $("me-name").textContent = f.name || "";
        $("me-avatar").replaceWith(Object.assign(avatar(f.name, "person", f.person), { id: "me-avatar" }));
        for (const c of f.conversations || []) addConv(c);
        break;
      case "ready":
        S.retries = 0;
        S.resume = true;
        S.ready = true;
        status("online", "online · " + surfaceName(S.surface));
        for (const o of S.outbox.values()) if (o.state === "pending") send(o.frame); // same client ids: never stored twice
        request({ type: "apps" }, (a) => {
          for (const x of a.apps || []) S.apps.set(x.id, x);
          renderConvs();
          if (typeof S.active === "string") renderMessages();
        });
        refreshWallet();
        renderConvs();
        if (typeof S.active === "string") renderMessages();
        markDelivered();
        markRead();
        break;
      case "conv":
        addConv(f.conv);
        renderConvs();
        break;
      case "msg":
        onMsg(f);
        break;
      case "ack":
        if (S.outbox.has(f.id)) { S.outbox.delete(f.id); removePending(f.id); }
        if (f.msg) onMsg(f.msg); // the acknowledged message, as stored
        break;
      case "mark":
        onMark(f);
        break;
      case "typing":
        onTyping(f);
        break;
      case "prompt":
        if (!S.prompts.some((p) => p.id === f.prompt.id)) S.prompts.push(f.prompt);
        showPrompt();
        break;
      case "prompt_closed":
        S.prompts = S.prompts.filter((p) => p.id !== f.prompt);
        showPrompt();
        refreshWallet();
        break;
      case "gap":
        request({ type: "history", conv: f.conv, after: f.after, limit: 200 }, (h) => {
          for (const m of h.messages || []) onMsg(m, true);
          if (S.active === f.conv) renderMessages();
        });
        break;
      case "error":
        if (f.id && S.outbox.has(f.id)) {
          const o = S.outbox.get(f.id);
          o.state = "failed";
          o.error = f.message;
          renderOutbox();
        }
        announce(f.message || f.code);
        break;
    }
  }

  function addConv(c) {
    const old = S.convs.get(c.id) || { marks: new Map(), read: 0 };
    const marks = new Map();
    for (const m of c.marks || []) marks.set(m.person, m);
    const merged = Object.assign(old, c, { marks: c.marks ? marks : old.marks, read: Math.max(old.read || 0, c.read || 0) });
    S.convs.set(c.id, merged);
    if (!S.msgs.has(c.id)) S.msgs.set(c.id, new Map());
  }

  function onMsg(m, quiet) {
    let box = S.msgs.get(m.conv);
    if (!box) { box = new Map(); S.msgs.set(m.conv, box); }
    if (box.has(m.seq)) return; // shown already: each seq once
    box.set(m.seq, m);
    const c = S.convs.get(m.conv);
    const mine = isMine(m);
    if (c) {
      c.last = Math.max(c.last || 0, m.seq);
    }
    if (m.from.kind === "app") refreshWalletSoon(); // a payment or a refund may have moved money
    else stopTyping(m.conv, m.from.id);
    if (quiet) return;
    if (S.active === m.conv) {
      insertMsg(m);
      markReadSoon(); // what is shown, one's own messages included, is read
    }
    if (!mine) {
      markDeliveredSoon();
      notify(m);
    }
    renderConvs();
  }

  function isMine(m) { return m.from.kind === "person" && m.from.id === S.person; }

  function onMark(f) {
    const c = S.convs.get(f.conv);
    if (!c) return;
    if (f.person === S.person) {
      c.read = Math.max(c.read || 0, f.read);
      renderConvs();
      return;
    }
    c.marks.set(f.person, f);
    if (S.active === f.conv) updateStates();
  }

  // ---- typing ----
  // Who is typing where: conv id -> Map(person -> {name, until}).
  const typists = new Map();
  function onTyping(f) {
    if (!typists.has(f.conv)) typists.set(f.conv, new Map());
    typists.get(f.conv).set(f.person, { name: f.name, until: Date.now() + 5000 });
    showTyping();
    setTimeout(showTyping, 5100);
  }
  function stopTyping(conv, person) {
    const t = typists.get(conv);
    if (t && t.delete(person)) showTyping();
  }
  function showTyping() {
    const t = typeof S.active === "string" ? typists.get(S.active) : null;
    const names = t ? [...t.values()].filter((x) => x.until > Date.now()).map((x) => x.name) : [];
    $("chat-typing").textContent = names.length ? listWords(names) + (names.length > 1 ? " are" : " is") + " typing…" : "";
  }
  let typingSent = 0;
  // typed tells the other members, at most every 3 s, that the person types.
  function typed() {
    const c = typeof S.active === "string" ? S.convs.get(S.active) : null;
    if (!c || c.kind === "app" || !online() || Date.now() - typingSent < 3000) return;
    typingSent = Date.now();
    send({ type: "typing", conv: c.id });
  }

  // unread counts the messages from others after the person's read marker,
  // counting those this page has not loaded as unread.
  function unread(c) {
    const box = S.msgs.get(c.id) || new Map();
    let n = Math.max(0, (c.last || 0) - (c.read || 0));
    for (const [seq, m] of box) if (seq > (c.read || 0) && seq <= (c.last || 0) && isMine(m)) n--;
    return Math.max(0, n);
  }

  function lastMsg(c) {
    const box = S.msgs.get(c.id);
    if (!box || !box.size) return null;
    return box.get(Math.max(...box.keys()));
  }

  // ---- read markers ----
  const markDeliveredSoon = later(() => markDelivered(), 300);
  // markDelivered tells the server what this page has received from others.
  function markDelivered() {
    if (!online()) return;
    for (const [id, box] of S.msgs) {
      let top = 0;
      for (const [seq, m] of box) if (!isMine(m)) top = Math.max(top, seq);
      const c = S.convs.get(id);
      if (!c || top <= Math.max(S.delivered[id] || 0, c.read || 0)) continue;
      S.delivered[id] = top;
      send({ type: "mark", conv: id, seq: top, state: "delivered" });
    }
  }
  const markReadSoon = later(() => markRead(), 200);
  // markRead marks the open conversation read, when the person can see it.
  function markRead() {
    const id = S.active;
    if (typeof id !== "string" || document.visibilityState !== "visible" || $("app").dataset.pane === "list" && isPhone()) return;
    const c = S.convs.get(id);
    if (!c || (c.last || 0) <= (c.read || 0)) return;
    c.read = c.last;
    renderConvs();
    if (online()) send({ type: "mark", conv: id, seq: c.last, state: "read" });
  }
  const isPhone = () => window.matchMedia("(max-width: 720px)").matches;

  // ---- conversations ----
  function renderConvs() {
    const ul = $("conversations");
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#conversations li");
    const focusedID = focused ? focused.dataset.conv : null;
    const q = $("search").value.trim().toLowerCase();
    ul.replaceChildren();
    const time = (c) => { const m = lastMsg(c); return m ? m.time : c.created || 0; };
    const list = [...S.convs.values()].sort((a, b) => time(b) - time(a));
    let total = 0;
    for (const c of list) {
      const n = unread(c);
      total += n;
      if (q && !(c.title || "").toLowerCase().includes(q)) continue;
      const m = lastMsg(c);
      const kind = c.kind === "app" ? "mini-app" : c.kind === "group" ? "group" : "";
      const pv = m ? (isMine(m) ? "You: " : c.kind === "group" ? senderName(m.from) + ": " : "") + preview(m) : (c.kind === "app" ? "Mini-app" : "No messages yet");
      const li = el("li", { "data-conv": c.id, "data-testid": "conv", class: S.active === c.id ? "active" : "" },
        el("button", { class: "row", type: "button", "aria-current": S.active === c.id ? "true" : null, onclick: () => select(c.id) },
          avatar(c.title, c.kind, c.app || c.id),
          el("span", { class: "main" },
            el("span", { class: "line" },
              el("span", { class: "title" }, c.title || "Conversation", kind ? el("span", { class: "kind", text: kind }) : null),
              el("span", { class: "time", text: m ? shortTime(m.time) : "" })),
            el("span", { class: "line" },
              el("span", { class: "preview", text: pv }),
              n ? el("span", { class: "unread", "data-testid": "unread" }, String(n), el("span", { class: "visually-hidden", text: " unread" })) : null))));
      ul.append(li);
    }
    document.title = (total ? "(" + total + ") " : "") + "Passerelle";
    if (focusedID) {
      const b = ul.querySelector('li[data-conv="' + CSS.escape(focusedID) + '"] button');
      if (b) b.focus();
    }
    renderSearch(q);
  }

  function renderSearch(q) {
    const list = $("search-list");
    list.replaceChildren();
    $("search-results").hidden = !q;
    if (!q) return;
    for (const [id, box] of S.msgs) {
      const c = S.convs.get(id);
      for (const m of box.values()) {
        if (!preview(m).toLowerCase().includes(q)) continue;
        list.append(el("li", { "data-testid": "search-hit" }, el("button", { class: "row", type: "button", onclick: () => select(id, m.seq) },
          el("span", { class: "main" },
            el("span", { class: "line" }, el("span", { class: "title", text: c ? c.title : "" }), el("span", { class: "time", text: shortTime(m.time) })),
            el("span", { class: "preview", text: senderName(m.from) + ": " + preview(m) })))));
      }
    }
    if (!list.children.length) list.append(el("li", { class: "hint", text: "No messages match." }));
  }

  function showChat(title, conv) {
    const has = title != null;
    $("chat-title").textContent = has ? title : "Welcome";
    $("empty").hidden = has;
    $("messages").hidden = !has;
    $("composer").hidden = !has;
    $("composer-input").disabled = !has;
    $("composer-send").disabled = !has;
    const av = conv ? avatar(title, conv.kind, conv.app || conv.id) : el("span", { class: "avatar" });
    av.id = "chat-avatar";
    av.hidden = !conv;
    $("chat-avatar").replaceWith(av);
    $("app").dataset.pane = has ? "chat" : "list";
  }

  function select(id, seq) {
    S.active = id;
    const c = S.convs.get(id);
    $("picker").hidden = true;
    showChat(c ? c.title : "", c);
    renderMessages();
    showTyping();
    markRead();
    renderConvs();
    if (seq) {
      const li = $("messages").querySelector('[data-seq="' + seq + '"]');
      if (li) { li.scrollIntoView({ block: "center" }); li.classList.add("hit"); }
    }
    $("composer-input").focus();
  }

  function startWith(person) {
    const found = [...S.convs.values()].find((c) => c.kind === "direct" && (c.members || []).includes(person.id));
    $("picker").hidden = true;
    if (found) return select(found.id);
    S.active = { to: person.id, title: person.name };
    showChat(person.name, { kind: "direct", id: person.id });
    renderMessages();
    $("composer-input").focus();
  }

  // ---- messages ----
  // renderMessages draws the open conversation afresh; new messages are
  // then inserted one by one (insertMsg), so that what the person is
  // typing in a card's form is kept.
  function renderMessages() {
    const ol = $("messages");
    ol.replaceChildren();
    const box = typeof S.active === "string" ? S.msgs.get(S.active) || new Map() : new Map();
    let day = "";
    for (const seq of [...box.keys()].sort((a, b) => a - b)) {
      const m = box.get(seq);
      if (dayKey(m.time) !== day) { day = dayKey(m.time); ol.append(daySep(m.time)); }
      ol.append(renderMsg(m));
    }
    renderOutbox();
    ol.scrollTop = ol.scrollHeight;
  }

  function daySep(t) { return el("li", { class: "day", "data-day": dayKey(t), text: dayLabel(t) }); }

  function insertMsg(m) {
    const ol = $("messages");
    const shown = [...ol.querySelectorAll(".msg[data-seq]")];
    const lastShown = shown.length ? Number(shown[shown.length - 1].dataset.seq) : 0;
    if (m.seq < lastShown) { renderMessages(); return; } // out of order (a gap filled): redraw
    const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 80;
    const before = ol.querySelector(".msg.pending");
    const prevDay = [...ol.querySelectorAll(".day")].pop();
    if (!prevDay || prevDay.dataset.day !== dayKey(m.time)) ol.insertBefore(daySep(m.time), before);
    ol.insertBefore(renderMsg(m), before);
    if (atBottom || isMine(m)) ol.scrollTop = ol.scrollHeight;
  }

  // state of one of the person's stored messages: read when every other
  // member has read it, delivered when every other member has received it.
  function msgState(conv, seq) {
    const c = S.convs.get(conv);
    if (!c || c.kind === "app") return "sent";
    const others = (c.members || []).filter((p) => p !== S.person);
    if (!others.length) return "sent";
    const mk = (p) => c.marks.get(p) || { delivered: 0, read: 0 };
    if (others.every((p) => mk(p).read >= seq)) return "read";
    if (others.every((p) => mk(p).delivered >= seq)) return "delivered";
    return "sent";
  }
  const stateWords = { pending: "Sending…", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Not sent" };
  const stateMarks = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };
  function stateEl(state) {
    return el("span", { class: "state", "data-state": state, "data-testid": "msg-state", title: stateWords[state] },
      el("span", { "aria-hidden": "true", text: stateMarks[state] + " " }), stateWords[state]);
  }

  function updateStates() {
    for (const li of $("messages").querySelectorAll(".msg.mine[data-seq]")) {
      const old = li.querySelector(".state");
      const st = msgState(li.dataset.conv, Number(li.dataset.seq));
      if (old && old.dataset.state !== st) old.replaceWith(stateEl(st));
    }
  }

  function meta(m, mine) {
    return el("div", { class: "meta" },
      el("time", { datetime: new Date(m.time).toISOString(), text: timeFmt.format(new Date(m.time)) }),
      mine ? stateEl(msgState(m.conv, m.seq)) : null);
  }

  function renderMsg(m) {
    const mine = isMine(m);
    const li = el("li", { class: "msg" + (mine ? " mine" : ""), "data-conv": m.conv, "data-seq": String(m.seq), "data-testid": "msg" });
    const c = S.convs.get(m.conv);
    if (!mine && !(c && c.kind === "direct")) li.append(el("div", { class: "from", text: senderName(m.from) }));
    else if (!mine) li.append(el("div", { class: "from visually-hidden", text: senderName(m.from) }));
    const r = m.render || { kind: "text", text: m.message.text };
    li.dataset.render = r.kind;
    switch (r.kind) {
      case "card":
        li.append(renderCard(m.conv, r.card, r.text));
        break;
      case "buttons":
      case "quick_replies":
        li.append(el("div", { class: "text", text: r.text || "" }), choices(m.conv, r.choices));
        break;
      case "list": {
        const items = el("ul", { class: "list-items", hidden: true });
        for (const ch of r.choices || []) items.append(el("li", {}, itemButton(ch.title, ch.description, ch.id, () => pick(m.conv, ch))));
        const toggle = el("button", { type: "button", "aria-expanded": "false", text: r.button || "Choose" });
        toggle.onclick = () => { items.hidden = !items.hidden; toggle.setAttribute("aria-expanded", String(!items.hidden)); };
        li.append(el("div", { class: "text", text: r.text || "" }), el("div", { class: "choices" }, toggle), items);
        break;
      }
      case "generic": {
        if (r.text) li.append(el("div", { class: "text", text: r.text }));
        const els = el("div", { class: "elements" });
        for (const e of r.elements || []) {
          els.append(el("div", { class: "element" },
            image(e.image),
            el("div", { class: "title", text: e.title }),
            e.subtitle ? el("small", { text: e.subtitle }) : null,
            choices(m.conv, e.buttons)));
        }
        li.append(els);
        break;
      }
      default: // text, menu, form_text
        li.append(el("div", { class: "text", text: r.text || "" }));
    }
    if (S.surface !== "web" && r.kind !== "text") li.append(el("div", { class: "surface-tag", text: "as on " + surfaceName(S.surface) + " · " + r.kind.replace("_", " ") }));
    li.append(meta(m, mine));
    return li;
  }

  // image shows a picture, and nothing (no broken-image gap) when it
  // cannot be loaded.
  function image(src) {
    if (!src) return null;
    const img = el("img", { src, alt: "", loading: "lazy" });
    img.addEventListener("error", () => img.remove());
    return img;
  }

  function itemButton(title, description, id, onclick) {
    return el("button", { type: "button", "data-choice": id || "", onclick }, el("span", { text: title }), description ? el("small", { text: description }) : null);
  }

  function renderCard(conv, c, text) {
    const d = el("div", { class: "card" });
    if (text) d.append(el("div", { class: "text", text }));
    d.append(image(c.image) || "");
    if (c.title) d.append(el("div", { class: "title", text: c.title }));
    if (c.text) d.append(el("div", { class: "text", text: c.text }));
    if (c.buttons) d.append(choices(conv, c.buttons.map((b) => ({ kind: "button", id: b.id, title: b.title, value: b.value }))));
    if (c.list) {
      const ul = el("ul", { class: "list-items" });
      for (const it of c.list.items || []) {
        const li = el("li", { "data-choice": it.id }, itemButton(it.title, it.description, "", () => pick(conv, { kind: "item", id: it.id })));
        ul.append(li);
      }
      d.append(ul);
    }
    if (c.form) {
      const f = el("form", { class: "card-form" });
      for (const fl of c.form.fields || []) {
        const type = { number: "number", phone: "tel", email: "email" }[fl.type] || "text";
        f.append(el("label", {}, el("span", { text: fl.label || fl.name }), el("input", { name: fl.name, type, required: !!fl.required })));
      }
      f.append(el("button", { text: c.form.submit || "Send" }));
      f.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const fields = {};
        for (const [k, v] of new FormData(f).entries()) fields[k] = String(v);
        request({ type: "action", conv, action: { id: c.form.id, fields } }, ackOrToast);
      });
      d.append(f);
    }
    if (c.share) d.append(choices(conv, [{ kind: "share", title: "Open", app: c.share.app, payload: c.share.payload }]));
    return d;
  }

  function choices(conv, list) {
    const d = el("div", { class: "choices" });
    for (const ch of list || []) d.append(el("button", { type: "button", "data-choice": ch.id || "", onclick: () => pick(conv, ch), text: ch.title }));
    return d;
  }

  function pick(conv, ch) {
    if (ch.kind === "share") return openApp(ch.app, ch.payload);
    request({ type: "action", conv, action: { id: ch.id, value: ch.value || undefined } }, ackOrToast);
  }

  function ackOrToast(f) { if (f.type === "error") announce(f.message); }

  function openApp(app, payload) {
    $("picker").hidden = true;
    request({ type: "open", app, payload }, (f) => {
      if (f.type === "ack") select(f.conv); else announce(f.message);
    });
  }

  // ---- sending: shown at once, kept until stored ----
  function sendText(text) {
    const fr = { type: "send", id: newID(), text };
    let conv = null;
    if (typeof S.active === "string") fr.conv = conv = S.active;
    else if (S.active && S.active.to) fr.to = S.active.to;
    else return;
    const o = { frame: fr, conv, to: fr.to, text, time: Date.now(), state: "pending" };
    S.outbox.set(fr.id, o);
    renderOutbox();
    send(fr, (f) => {
      if (f.type === "ack" && typeof S.active !== "string" && S.active && S.active.to === o.to) select(f.conv);
    });
    // Not stored within 20 s while online: show it failed, with a retry.
    setTimeout(() => {
      if (S.outbox.get(fr.id) === o && o.state === "pending" && online()) { o.state = "failed"; renderOutbox(); }
    }, 20000);
  }

  function retry(id) {
    const o = S.outbox.get(id);
    if (!o) return;
    o.state = "pending";
    o.error = "";
    renderOutbox();
    send(o.frame);
  }

  function removePending(id) {
    const li = $("messages").querySelector('.msg.pending[data-cid="' + CSS.escape(id) + '"]');
    if (li) li.remove();
  }

  // renderOutbox draws the open conversation's unacknowledged messages
  // after its stored ones.
  function renderOutbox() {
    const ol = $("messages");
    for (const li of ol.querySelectorAll(".msg.pending")) li.remove();
    for (const [id, o] of S.outbox) {
      const here = typeof S.active === "string" ? o.conv === S.active : S.active && o.to === S.active.to && !o.conv;
      if (!here) continue;
      const state = o.state === "failed" ? "failed" : "pending";
      const li = el("li", { class: "msg mine pending", "data-cid": id, "data-testid": "msg-pending", "data-state": state },
        el("div", { class: "text", text: o.text }),
        el("div", { class: "meta" },
          o.error ? el("span", { class: "error", text: o.error }) : null,
          stateEl(state),
          state === "failed" ? el("button", { class: "retry secondary", type: "button", "data-testid": "retry", onclick: () => retry(id), text: "Retry" }) : null));
      ol.append(li);
    }
    ol.scrollTop = ol.scrollHeight;
  }

  // ---- sheets (host-drawn prompts, wallet) ----
  let sheetReturn = null;
  function openSheet(sheet, focus) {
    if (sheet.hidden) sheetReturn = document.activeElement;
    sheet.hidden = false;
    $("app").inert = true;
    (focus || sheet.querySelector("button")).focus();
  }
  function closeSheet(sheet) {
    if (sheet.hidden) return;
    sheet.hidden = true;
    if ([...document.querySelectorAll(".sheet")].every((s) => s.hidden)) {
      $("app").inert = false;
      if (sheetReturn && document.contains(sheetReturn)) sheetReturn.focus();
      sheetReturn = null;
    }
  }

  function showPrompt() {
    const sheet = $("prompt-sheet");
    const p = S.prompts[0];
    if (!p) { closeSheet(sheet); return; }
    const b = p.body || {};
    const yes = $("prompt-yes"), no = $("prompt-no");
    const appName = (S.apps.get(b.app || p.app) || {}).name || b.app || p.app || "A mini-app";
    sheet.dataset.prompt = p.id;
    sheet.dataset.kind = p.type;
    $("prompt-amount").textContent = "";
    const choice = $("prompt-choice");
    choice.hidden = true;
    $("prompt-choice-label").hidden = true;
    let ya = "dismiss", na = null;
    if (p.type === "payment") {
      sheet.setAttribute("data-testid", "payment-sheet");
      const merchant = b.merchant_name || appName;
      const amount = money(b.amount, b.currency);
      $("prompt-title").textContent = "Pay " + amount + " to " + merchant + (b.description ? " for " + b.description : "");
      $("prompt-text").textContent = "Asked by " + appName + ". The money leaves your wallet only if you confirm.";
      $("prompt-amount").textContent = amount;
      yes.textContent = "Pay " + amount; no.textContent = "Decline";
      yes.setAttribute("data-testid", "payment-confirm"); no.setAttribute("data-testid", "payment-decline");
      ya = "confirm"; na = "decline";
    } else if (p.type === "consent") {
      sheet.setAttribute("data-testid", "consent-sheet");
      const who = b.merchant_name ? b.merchant_name + " (" + appName + ")" : appName;
      const what = listWords((b.scopes || []).map((s) => scopeWords[s] || "something about you"));
      $("prompt-title").textContent = who + " would like to see " + what;
      $("prompt-text").textContent = "Allow it once and " + appName + " can see " + what + " from now on. You can say no.";
      yes.textContent = "Allow"; no.textContent = "Don't allow";
      yes.setAttribute("data-testid", "consent-grant"); no.setAttribute("data-testid", "consent-refuse");
      ya = "grant"; na = "refuse";
    } else if (p.type === "share") {
      sheet.setAttribute("data-testid", "share-sheet");
      const card = b.card || {};
      $("prompt-title").textContent = "Share " + (card.title || "this") + " from " + appName;
      $("prompt-text").textContent = card.text || "Pick the conversation to share it in.";
      choice.replaceChildren();
      for (const c of S.convs.values()) if (c.kind !== "app") choice.append(el("option", { value: c.id, text: c.title || "Conversation" }));
      choice.hidden = false;
      $("prompt-choice-label").hidden = false;
      yes.textContent = "Share"; no.textContent = "Cancel";
      yes.setAttribute("data-testid", "share-confirm"); no.setAttribute("data-testid", "share-cancel");
      ya = "share"; na = "dismiss";
    } else if (p.type === "subscribe") {
      // The host's own words (they are what the consent ledger records the
      // person saw), under the business's name.
      sheet.setAttribute("data-testid", "subscribe-sheet");
      $("prompt-title").textContent = b.merchant_name || appName;
      $("prompt-text").textContent = b.text || "";
      yes.textContent = "Allow"; no.textContent = "Not now";
      yes.setAttribute("data-testid", "subscribe-accept"); no.setAttribute("data-testid", "subscribe-decline");
      ya = "accept"; na = "decline";
    } else {
      sheet.setAttribute("data-testid", "prompt-sheet");
      $("prompt-title").textContent = appName;
      $("prompt-text").textContent = b.text || b.description || "";
      yes.textContent = "OK"; yes.setAttribute("data-testid", "prompt-dismiss");
    }
    no.hidden = !na;
    const answer = (a) => request({ type: "answer", prompt: p.id, answer: a, conv: a === "share" ? choice.value : undefined }, (f) => {
      if (f.type === "error") announce(f.message);
      S.prompts = S.prompts.filter((q) => q.id !== p.id);
      showPrompt();
    });
    yes.onclick = () => answer(ya);
    no.onclick = () => na && answer(na);
    openSheet(sheet, yes);
  }

  const refreshWalletSoon = later(() => refreshWallet(), 500);
  function refreshWallet() {
    if (!online()) return;
    request({ type: "wallet" }, (f) => {
      if (f.type !== "wallet") { $("wallet").textContent = "Wallet"; return; }
      const text = (f.balances || []).map((b) => money(b.amount, b.currency)).join(" · ") || "empty";
      $("wallet").textContent = "Wallet " + text;
      $("wallet-balance").textContent = text;
    });
  }
  function showWallet() {
    refreshWallet();
    const list = $("wallet-history");
    list.replaceChildren(el("li", { class: "hint", text: "Loading…" }));
    request({ type: "payments" }, (f) => {
      list.replaceChildren();
      if (f.type !== "payments") { list.append(el("li", { class: "hint", text: "History is not available on this server." })); return; }
      for (const p of f.payments || []) {
        const sign = p.amount > 0 ? "+" : "";
        list.append(el("li", { "data-testid": "wallet-entry" },
          el("span", {}, el("span", { text: p.title }), el("small", { class: "hint", text: " · " + shortTime(p.time) + (p.state ? " · " + p.state : "") })),
          el("span", { class: p.amount > 0 ? "in" : "", text: sign + money(p.amount, p.currency) })));
      }
      if (!list.children.length) list.append(el("li", { class: "hint", text: "No payments yet." }));
    });
    openSheet($("wallet-sheet"), $("wallet-close"));
  }

  // ---- who can message me (the consent screen) ----
  const longFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  const when = (t) => longFmt.format(new Date(t));
  const words = (name) => String(name || "").replace(/[-_.]+/g, " ");
  const surfaceWords = { web: "the web", whatsapp: "WhatsApp", messenger: "Messenger", instagram: "Instagram" };
  function showConsents() {
    $("consents-status").textContent = "";
    $("consents-list").replaceChildren(el("li", { class: "hint", text: "Loading…" }));
    request({ type: "consents" }, renderConsents);
    openSheet($("consents-sheet"), $("consents-close"));
  }
  function renderConsents(f) {
    const list = $("consents-list");
    list.replaceChildren();
    if (f.type !== "consents") { list.append(el("li", { class: "hint", text: f.message || "This server does not show who may message you." })); return; }
    f.consents.forEach((b, i) => list.append(consentItem(b, "consent-b" + i)));
    if (!f.consents.length) list.append(el("li", { class: "hint", text: "No business may message you: you have written to none and allowed none." }));
  }
  // howAgreed says where the person agreed and quotes what they were asked.
  function howAgreed(e, b) {
    const app = (b.apps || {})[e.app] || (S.apps.get(e.app) || {}).name || e.app;
    const where = [app && "in " + app, e.surface && "on " + (surfaceWords[e.surface] || e.surface)].filter(Boolean).join(", ");
    return el("p", { class: "how" }, "You allowed it" + (where ? " " + where : "") + ", answering: ",
      e.prompt ? el("q", { text: e.prompt }) : el("span", { text: "a question kept only as its fingerprint " + String(e.prompt_hash || "").slice(0, 12) + "…" }));
  }
  function consentItem(b, hid) {
    const name = b.name || b.business;
    const li = el("li", { "data-testid": "consent-business", "data-business": b.business, "aria-labelledby": hid },
      el("h3", { id: hid, tabindex: "-1", text: name }));
    if (b.opted_out) {
      li.append(el("p", { class: "state stopped", "data-testid": "consent-stopped",
        text: "Stopped" + (b.opted_out_since ? " since " + when(b.opted_out_since) : "") + ": it may send you nothing. Reply START in one of its conversations to hear from it again." }));
      return li;
    }
    const optIns = b.opt_ins || [], subs = b.subscriptions || [];
    if (b.window_until) li.append(el("p", { class: "state", text: "May reply to you until " + when(b.window_until) + ", because you wrote to it." }));
    if (!optIns.length && !subs.length) li.append(el("p", { class: "state", text: "You allowed it nothing more: it may only answer when you write to it." }));
    const grants = el("ul", { class: "grants", "aria-label": "What " + name + " may send you" });
    for (const e of optIns) {
      const stop = el("button", { type: "button", class: "secondary", "data-testid": "consent-withdraw", text: "Stop " + words(e.purpose) + " messages" });
      stop.onclick = () => confirmRevoke(b, e.purpose, stop);
      grants.append(el("li", { "data-testid": "consent-optin", "data-purpose": e.purpose },
        el("span", { class: "what", text: "Messages about " + words(e.purpose) + ", whenever it likes" }),
        el("span", { class: "since", "data-testid": "consent-since", text: "Since " + when(e.time) }),
        howAgreed(e, b), stop));
    }
    for (const e of subs) {
      grants.append(el("li", { "data-testid": "consent-subscription", "data-template": e.template },
        el("span", { class: "what", text: "One message: " + words(e.template) }),
        el("span", { class: "since", "data-testid": "consent-since", text: "Since " + when(e.time) }),
        howAgreed(e, b)));
    }
    if (grants.children.length) li.append(grants);
    const all = el("button", { type: "button", class: "revoke", "data-testid": "consent-revoke", text: "Stop all messages from " + name });
    all.onclick = () => confirmRevoke(b, "", all);
    li.append(all);
    return li;
  }
  // confirmRevoke asks, in place of the button pressed, before stopping a
  // purpose or the whole business.
  function confirmRevoke(b, purpose, trigger) {
    for (const box of document.querySelectorAll("#consents-list .confirm")) box.cancel();
    const name = b.name || b.business;
    const id = "consent-confirm-text";
    const question = purpose
      ? "Stop " + words(purpose) + " messages from " + name + "? It may still answer when you write to it."
      : "Stop all messages from " + name + ", on every surface? As if you replied STOP: it may send you nothing until you reply START.";
    const no = el("button", { type: "button", class: "secondary", "data-testid": "consent-cancel", text: "Cancel" });
    const yes = el("button", { type: "button", class: "danger", "data-testid": "consent-confirm", text: purpose ? "Stop them" : "Stop all" });
    const box = el("div", { class: "confirm", role: "group", "aria-labelledby": id }, el("p", { id, text: question }), el("div", { class: "sheet-actions" }, no, yes));
    box.cancel = () => { box.remove(); trigger.hidden = false; };
    trigger.hidden = true;
    trigger.after(box);
    yes.focus();
    no.onclick = () => { box.cancel(); trigger.focus(); };
    yes.onclick = () => {
      yes.disabled = no.disabled = true;
      request({ type: "revoke", business: b.business, purpose: purpose || undefined }, (f) => {
        if (f.type !== "consents") {
          box.cancel();
          $("consents-status").textContent = f.message || "That did not work; try again.";
          trigger.focus();
          return;
        }
        renderConsents(f);
        $("consents-status").textContent = purpose
          ? name + " may no longer send you " + words(purpose) + " messages."
          : name + " may send you nothing more, on any surface.";
        const head = $("consents-list").querySelector('[data-business="' + CSS.escape(b.business) + '"] h3');
        (head || $("consents-close")).focus();
      });
    };
  }

  // showLink asks the server for a one-time code that links a network
  // account: the person sends "LINK <code>" from WhatsApp, Messenger or
  // Instagram.
  function showLink() {
    $("link-code").textContent = "…";
    $("link-text").textContent = "";
    fetch("link-code", { method: "POST", headers: { Authorization: "Bearer " + S.token }, cache: "no-store" })
      .then((r) => r.json().catch(() => ({})).then((d) => ({ ok: r.ok && d.code, d })))
      .then(({ ok, d }) => {
        if (!ok) { $("link-code").textContent = ""; $("link-text").textContent = (d.error && d.error.message) || "Linking is not available on this server."; return; }
        $("link-code").textContent = "LINK " + d.code;
        $("link-text").textContent = d.text;
      })
      .catch(() => { $("link-code").textContent = ""; $("link-text").textContent = "The server could not be reached; try again."; });
    openSheet($("link-sheet"), $("link-close"));
  }

  // announce says text in the status line (a live region), for a while.
  let toastTimer;
  function announce(text) {
    $("status").textContent = text;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      const st = $("status").dataset.state;
      if (st === "online") status(st, "online · " + surfaceName(S.surface));
    }, 5000);
  }

  function notify(m) {
    if (document.visibilityState === "visible" || !("Notification" in window) || Notification.permission !== "granted") return;
    const c = S.convs.get(m.conv);
    try { new Notification(c ? c.title : senderName(m.from), { body: preview(m), tag: m.conv }); } catch (e) { /* not allowed here */ }
  }

  // ---- pickers: people, groups, mini-apps ----
  function picker(kind) {
    const list = $("picker-list");
    const chosen = new Set();
    $("picker").hidden = false;
    $("picker-title").textContent = { people: "Start a chat", group: "New group", apps: "Mini-apps" }[kind];
    $("picker-query").hidden = kind === "apps";
    $("group-form").hidden = kind !== "group";
    $("group-create").hidden = kind !== "group";
    $("group-create").disabled = true;
    const fillPeople = (people) => {
      list.replaceChildren();
      for (const p of people) {
        if (kind === "group") {
          const box = el("input", { type: "checkbox", value: p.id, "data-testid": "group-member", checked: chosen.has(p.id) });
          box.onchange = () => { box.checked ? chosen.add(p.id) : chosen.delete(p.id); $("group-create").disabled = !chosen.size; };
          list.append(el("li", {}, el("label", { class: "row" }, box, avatar(p.name, "person", p.id), el("span", { class: "title", text: p.name }))));
        } else {
          list.append(el("li", {}, el("button", { type: "button", class: "row", "data-id": p.id, "data-testid": "people-item", onclick: () => startWith(p) },
            avatar(p.name, "person", p.id), el("span", { class: "title", text: p.name }))));
        }
      }
      if (!people.length) list.append(el("li", { class: "hint", text: "Nobody matches." }));
    };
    if (kind === "apps") {
      list.replaceChildren();
      request({ type: "apps" }, (f) => {
        for (const a of f.apps || []) {
          S.apps.set(a.id, a);
          list.append(el("li", {}, el("button", { type: "button", class: "row", "data-id": a.id, "data-testid": "apps-item", onclick: () => openApp(a.id) },
            avatar(a.name, "app", a.id),
            el("span", { class: "main" }, el("span", { class: "title", text: a.name || a.id }), el("span", { class: "desc", text: a.description || "" })))));
        }
        if (!(f.apps || []).length) list.append(el("li", { class: "hint", text: f.type === "error" ? f.message : "No mini-apps are installed." }));
        const first = list.querySelector("button");
        if (first) first.focus();
      });
      return;
    }
    const q = () => request({ type: "people", query: $("picker-query").value }, (f) => fillPeople((f.people || []).filter((p) => p.id !== S.person)));
    $("picker-query").value = "";
    $("picker-query").oninput = q;
    $("group-create").onclick = () => {
      const title = $("group-title").value.trim() || "Group";
      request({ type: "group", title, members: [...chosen] }, (f) => {
        if (f.type === "ack") { $("group-title").value = ""; select(f.conv); } else announce(f.message);
      });
    };
    q();
    (kind === "group" ? $("group-title") : $("picker-query")).focus();
  }

  // ---- wiring ----
  $("surface-select").value = S.surface;
  $("surface-select").addEventListener("change", (ev) => {
    S.surface = ev.target.value;
    store.set("surface", S.surface);
    // Start afresh so that every message is rendered for the new surface;
    // unread counts come back with the read markers.
    S.msgs = new Map(); S.resume = false; S.retries = 0; S.delivered = {};
    renderMessages();
    if (S.ws) S.ws.close(); else connect();
  });
  $("composer-input").addEventListener("input", typed);
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("composer-input").value.trim();
    if (!text) return;
    sendText(text);
    $("composer-input").value = "";
  });
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("signin-token").value.trim();
    if (t) { $("signin-token").value = ""; signedIn(t); }
  });
  $("signout").addEventListener("click", () => signOut("You signed out."));
  // Desktop notifications, only once the person asks for them.
  const canAsk = () => "Notification" in window && Notification.permission === "default";
  $("notify").hidden = !canAsk();
  $("notify").addEventListener("click", () => {
    Notification.requestPermission().then(() => { $("notify").hidden = !canAsk(); });
  });
  $("back").addEventListener("click", () => {
    $("app").dataset.pane = "list";
    const li = document.querySelector('#conversations li[data-conv="' + CSS.escape(String(S.active)) + '"] button');
    (li || $("new-chat")).focus();
  });
  $("new-chat").addEventListener("click", () => picker("people"));
  $("new-group").addEventListener("click", () => picker("group"));
  $("show-apps").addEventListener("click", () => picker("apps"));
  $("picker-close").addEventListener("click", () => { $("picker").hidden = true; $("new-chat").focus(); });
  $("search").addEventListener("input", () => renderConvs());
  $("wallet").addEventListener("click", showWallet);
  $("wallet-close").addEventListener("click", () => closeSheet($("wallet-sheet")));
  $("consents").addEventListener("click", showConsents);
  $("consents-close").addEventListener("click", () => closeSheet($("consents-sheet")));
  $("link").addEventListener("click", showLink);
  $("link-close").addEventListener("click", () => closeSheet($("link-sheet")));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("consents-sheet").hidden) closeSheet($("consents-sheet"));
    else if (ev.key === "Escape" && !$("wallet-sheet").hidden) closeSheet($("wallet-sheet"));
    else if (ev.key === "Escape" && !$("link-sheet").hidden) closeSheet($("link-sheet"));
    else if (ev.key === "Escape" && !$("picker").hidden) { $("picker").hidden = true; $("new-chat").focus(); }
  });
  document.addEventListener("visibilitychange", () => { markRead(); if (document.visibilityState === "visible") refreshWallet(); });
  // A sign-in link opened in a tab already showing the client changes only
  // the fragment: take its token as on a first load.
  window.addEventListener("hashchange", () => {
    const h = new URLSearchParams(location.hash.slice(1));
    const t = h.get("token");
    if (!t) return;
    history.replaceState(null, "", location.pathname + location.search);
    if (S.token) signOut();
    signedIn(t);
  });
  window.addEventListener("online", () => { if (!S.ws && S.token) { clearTimeout(S.reconnectTimer); connect(); } });

  if (S.token) { $("app").hidden = false; connect(); } else showSignIn();
})();
