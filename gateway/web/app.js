// Passerelle web client: vanilla JS, no build step. It speaks the protocol
// described in gateway/PROTOCOL.md.
(function () {
  "use strict";

  const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
  const query = new URLSearchParams(location.search.slice(1));
  const S = {
    token: params.get("token") || query.get("token") || "",
    surface: params.get("surface") || query.get("surface") || localStorage.getItem("passerelle.surface") || "web",
    ws: null,
    person: "",
    resume: false,          // true once we hold state worth resuming
    convs: new Map(),       // id -> {id, kind, title, app, members, last, unread, time}
    msgs: new Map(),        // conv id -> Map(seq -> msg frame)
    last: {},               // conv id -> highest seq seen
    active: null,           // conv id, or {to, title} for a new 1:1 conversation
    pending: new Map(),     // client id -> send frame not yet acknowledged
    waiting: new Map(),     // request id -> callback
    prompts: [],            // unanswered prompts, oldest first
    seq: 0,
    retries: 0,
  };
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  const newID = () => "c" + Date.now().toString(36) + "-" + (++S.seq);

  function status(state, text) {
    $("status").dataset.state = state;
    $("status").textContent = text || state;
  }

  // ---- connection ----
  function connect() {
    if (!S.token) {
      status("offline", "no token: open /#token=…");
      return;
    }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws?token=" + encodeURIComponent(S.token));
    S.ws = ws;
    status("connecting", "connecting…");
    ws.onopen = () => {
      const hello = { type: "hello", v: 1, id: newID(), surface: S.surface };
      if (S.resume) {
        hello.resume = {};
        for (const id of S.convs.keys()) hello.resume[id] = S.last[id] || 0;
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
      if (ev.code === 4401 || ev.code === 4000) {
        status("offline", ev.reason || "signed out");
        return;
      }
      const delay = Math.min(10000, 300 * Math.pow(2, S.retries++));
      status("offline", "reconnecting…");
      setTimeout(connect, delay);
    };
  }

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
        $("me-name").textContent = f.name || f.person;
        for (const c of f.conversations || []) addConv(c);
        break;
      case "ready":
        S.retries = 0;
        S.resume = true;
        status("online", "online · " + S.surface);
        for (const fr of S.pending.values()) send(fr); // same client ids: never stored twice
        refreshWallet();
        renderConvs();
        break;
      case "conv":
        addConv(f.conv);
        renderConvs();
        break;
      case "msg":
        onMsg(f);
        break;
      case "ack":
        if (S.pending.has(f.id)) S.pending.delete(f.id);
        if (f.msg) onMsg(f.msg); // the acknowledged message, as stored
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
        request({ type: "history", conv: f.conv, after: f.after, limit: 200 }, (h) => (h.messages || []).forEach(onMsg));
        break;
      case "history":
        break;
      case "error":
        if (f.id && S.pending.has(f.id)) S.pending.delete(f.id);
        toast(f.message || f.code);
        break;
    }
  }

  function addConv(c) {
    const old = S.convs.get(c.id) || { unread: 0, time: 0 };
    S.convs.set(c.id, Object.assign(old, c));
    if (!S.msgs.has(c.id)) S.msgs.set(c.id, new Map());
  }

  function onMsg(m) {
    let box = S.msgs.get(m.conv);
    if (!box) { box = new Map(); S.msgs.set(m.conv, box); }
    if (box.has(m.seq)) return; // shown already: each seq once
    box.set(m.seq, m);
    S.last[m.conv] = Math.max(S.last[m.conv] || 0, m.seq);
    const c = S.convs.get(m.conv);
    if (c) {
      c.time = Math.max(c.time || 0, m.time);
      if (S.active !== m.conv && m.from.id !== S.person) c.unread++;
    }
    if (S.active === m.conv) renderMessages();
    renderConvs();
  }

  // ---- conversations ----
  function renderConvs() {
    const ul = $("conversations");
    ul.replaceChildren();
    const list = [...S.convs.values()].sort((a, b) => (b.time || 0) - (a.time || 0));
    for (const c of list) {
      const li = el("li", { "data-conv": c.id, "data-testid": "conv", class: S.active === c.id ? "active" : "", onclick: () => select(c.id) },
        el("span", { class: "title", text: c.title || c.id }),
        el("span", { class: "kind", text: c.kind === "app" ? "mini-app" : c.kind === "group" ? "group" : "" }),
        c.unread ? el("span", { class: "unread", text: String(c.unread) }) : null);
      ul.append(li);
    }
  }

  function select(id) {
    S.active = id;
    const c = S.convs.get(id);
    if (c) c.unread = 0;
    $("chat-title").textContent = c ? c.title : "";
    $("composer-input").disabled = false;
    $("composer-send").disabled = false;
    renderConvs();
    renderMessages();
    $("composer-input").focus();
  }

  function startWith(person) {
    const found = [...S.convs.values()].find((c) => c.kind === "direct" && (c.members || []).includes(person.id));
    $("picker").hidden = true;
    if (found) return select(found.id);
    S.active = { to: person.id, title: person.name };
    $("chat-title").textContent = person.name;
    $("composer-input").disabled = false;
    $("composer-send").disabled = false;
    renderMessages();
  }

  // ---- messages ----
  function renderMessages() {
    const ol = $("messages");
    ol.replaceChildren();
    if (typeof S.active !== "string") return;
    const box = S.msgs.get(S.active) || new Map();
    for (const seq of [...box.keys()].sort((a, b) => a - b)) ol.append(renderMsg(box.get(seq)));
    ol.scrollTop = ol.scrollHeight;
  }

  function renderMsg(m) {
    const mine = m.from.kind === "person" && m.from.id === S.person;
    const li = el("li", { class: "msg" + (mine ? " mine" : ""), "data-conv": m.conv, "data-seq": String(m.seq), "data-testid": "msg" });
    if (!mine) li.append(el("div", { class: "from", text: m.from.name || m.from.id }));
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
        const items = el("ul", { class: "list-items", hidden: "" });
        for (const ch of r.choices || []) items.append(el("li", { "data-choice": ch.id || "", onclick: () => pick(m.conv, ch), text: ch.title }, ch.description ? el("small", { text: ch.description }) : null));
        li.append(el("div", { class: "text", text: r.text || "" }),
          el("div", { class: "choices" }, el("button", { onclick: () => (items.hidden = !items.hidden), text: r.button || "Choose" })), items);
        break;
      }
      case "generic": {
        if (r.text) li.append(el("div", { class: "text", text: r.text }));
        const els = el("div", { class: "elements" });
        for (const e of r.elements || []) {
          els.append(el("div", { class: "element" },
            e.image ? el("img", { src: e.image, alt: "" }) : null,
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
    if (S.surface !== "web" && r.kind !== "text") li.append(el("div", { class: "surface-tag", text: S.surface + " · " + r.kind }));
    return li;
  }

  function renderCard(conv, c, text) {
    const d = el("div", { class: "card" });
    if (text) d.append(el("div", { class: "text", text }));
    if (c.image) d.append(el("img", { src: c.image, alt: "" }));
    if (c.title) d.append(el("div", { class: "title", text: c.title }));
    if (c.text) d.append(el("div", { class: "text", text: c.text }));
    if (c.buttons) d.append(choices(conv, c.buttons.map((b) => ({ kind: "button", id: b.id, title: b.title, value: b.value }))));
    if (c.list) {
      const ul = el("ul", { class: "list-items" });
      for (const it of c.list.items || []) ul.append(el("li", { "data-choice": it.id, onclick: () => pick(conv, { kind: "item", id: it.id }), text: it.title }, it.description ? el("small", { text: it.description }) : null));
      d.append(ul);
    }
    if (c.form) {
      const f = el("form", { class: "card-form" });
      for (const fl of c.form.fields || []) {
        const type = { number: "number", phone: "tel", email: "email" }[fl.type] || "text";
        f.append(el("label", { text: fl.label || fl.name }, el("input", Object.assign({ name: fl.name, type }, fl.required ? { required: "" } : {}))));
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
    for (const ch of list || []) d.append(el("button", { "data-choice": ch.id || "", onclick: () => pick(conv, ch), text: ch.title }));
    return d;
  }

  function pick(conv, ch) {
    if (ch.kind === "share") return openApp(ch.app, ch.payload);
    request({ type: "action", conv, action: { id: ch.id, value: ch.value || undefined } }, ackOrToast);
  }

  function ackOrToast(f) { if (f.type === "error") toast(f.message); }

  function openApp(app, payload) {
    $("picker").hidden = true;
    request({ type: "open", app, payload }, (f) => {
      if (f.type === "ack") select(f.conv); else toast(f.message);
    });
  }

  function sendText(text) {
    const fr = { type: "send", id: newID(), text };
    if (typeof S.active === "string") fr.conv = S.active;
    else if (S.active && S.active.to) fr.to = S.active.to;
    else return;
    S.pending.set(fr.id, fr);
    send(fr, (f) => {
      if (f.type === "ack" && typeof S.active !== "string") select(f.conv);
    });
  }

  // ---- prompts (host-drawn) ----
  function money(amount, currency) {
    try {
      const nf = new Intl.NumberFormat(undefined, { style: "currency", currency });
      const digits = nf.resolvedOptions().maximumFractionDigits;
      return nf.format(amount / Math.pow(10, digits));
    } catch (e) {
      return amount + " " + currency + " (minor units)";
    }
  }

  function showPrompt() {
    const sheet = $("prompt-sheet");
    const p = S.prompts[0];
    if (!p) { sheet.hidden = true; return; }
    const b = p.body || {};
    const yes = $("prompt-yes"), no = $("prompt-no");
    sheet.dataset.prompt = p.id;
    sheet.dataset.kind = p.type;
    $("prompt-amount").textContent = "";
    const choice = $("prompt-choice");
    choice.hidden = true;
    let ya = "dismiss", na = null;
    if (p.type === "payment") {
      sheet.setAttribute("data-testid", "payment-sheet");
      $("prompt-title").textContent = "Pay " + (b.merchant_name || b.merchant || p.app || "");
      $("prompt-text").textContent = b.description || "";
      $("prompt-amount").textContent = money(b.amount, b.currency);
      yes.textContent = "Confirm"; no.textContent = "Decline";
      yes.setAttribute("data-testid", "payment-confirm"); no.setAttribute("data-testid", "payment-decline");
      ya = "confirm"; na = "decline";
    } else if (p.type === "consent") {
      sheet.setAttribute("data-testid", "consent-sheet");
      $("prompt-title").textContent = (b.app || p.app) + " asks for";
      $("prompt-text").textContent = (b.scopes || []).join(", ");
      yes.textContent = "Allow"; no.textContent = "Refuse";
      yes.setAttribute("data-testid", "consent-grant"); no.setAttribute("data-testid", "consent-refuse");
      ya = "grant"; na = "refuse";
    } else if (p.type === "share") {
      sheet.setAttribute("data-testid", "share-sheet");
      const card = b.card || {};
      $("prompt-title").textContent = "Share " + (card.title || p.app);
      $("prompt-text").textContent = card.text || "Pick the conversation to share it in.";
      choice.replaceChildren();
      for (const c of S.convs.values()) if (c.kind !== "app") choice.append(el("option", { value: c.id, text: c.title || c.id }));
      choice.hidden = false;
      yes.textContent = "Share"; no.textContent = "Cancel";
      yes.setAttribute("data-testid", "share-confirm"); no.setAttribute("data-testid", "share-cancel");
      ya = "share"; na = "dismiss";
    } else {
      sheet.setAttribute("data-testid", "prompt-sheet");
      $("prompt-title").textContent = p.app || "Message";
      $("prompt-text").textContent = b.text || b.description || JSON.stringify(b);
      yes.textContent = "OK"; yes.setAttribute("data-testid", "prompt-dismiss");
    }
    no.hidden = !na;
    const answer = (a) => request({ type: "answer", prompt: p.id, answer: a, conv: a === "share" ? choice.value : undefined }, (f) => {
      if (f.type === "error") toast(f.message);
      S.prompts = S.prompts.filter((q) => q.id !== p.id);
      showPrompt();
    });
    yes.onclick = () => answer(ya);
    no.onclick = () => na && answer(na);
    sheet.hidden = false;
  }

  function refreshWallet() {
    request({ type: "wallet" }, (f) => {
      if (f.type !== "wallet") { $("wallet").textContent = ""; return; }
      $("wallet").textContent = (f.balances || []).map((b) => money(b.amount, b.currency)).join(" · ") || "Wallet empty";
    });
  }

  let toastTimer;
  function toast(text) {
    $("status").textContent = text;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => status($("status").dataset.state, $("status").dataset.state === "online" ? "online · " + S.surface : undefined), 4000);
  }

  // ---- wiring ----
  $("surface-select").value = S.surface;
  $("surface-select").addEventListener("change", (ev) => {
    S.surface = ev.target.value;
    localStorage.setItem("passerelle.surface", S.surface);
    // Start afresh so that every message is rendered for the new surface.
    S.msgs = new Map(); S.last = {}; S.resume = false; S.retries = 0;
    for (const c of S.convs.values()) c.unread = 0;
    renderMessages();
    if (S.ws) S.ws.close(); else connect();
  });
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("composer-input").value.trim();
    if (!text) return;
    sendText(text);
    $("composer-input").value = "";
  });
  const picker = (kind) => {
    const list = $("picker-list");
    $("picker").hidden = false;
    $("picker-query").hidden = kind !== "people";
    const fill = (items, onpick) => {
      list.replaceChildren();
      for (const it of items) list.append(el("li", { "data-id": it.id, "data-testid": kind + "-item", onclick: () => onpick(it), text: it.name }));
    };
    if (kind === "people") {
      const q = () => request({ type: "people", query: $("picker-query").value }, (f) => fill((f.people || []).filter((p) => p.id !== S.person), startWith));
      $("picker-query").oninput = q;
      q();
    } else {
      request({ type: "apps" }, (f) => fill(f.apps || [], (a) => openApp(a.id)));
    }
  };
  $("new-chat").addEventListener("click", () => picker("people"));
  $("show-apps").addEventListener("click", () => picker("apps"));
  connect();
})();
