// The phone page: renders the conversation, follows it live over
// server-sent events and sends what the person types or taps.
(function () {
  "use strict";
  var base = document.currentScript.dataset.base;
  var staticBase = document.currentScript.dataset.static;
  var list = document.getElementById("thread");
  var problem = document.getElementById("problem");
  var form = document.getElementById("say");
  var input = document.getElementById("text");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function post(path, fields) {
    var body = new URLSearchParams(fields);
    return fetch(base + path, { method: "POST", body: body, headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.ok) { problem.hidden = true; return; }
        return r.text().then(function (t) { throw new Error(t); });
      })
      .catch(function (err) { problem.textContent = err.message; problem.hidden = false; });
  }

  function choiceButton(b, c) {
    if (c.kind === "web_url") {
      var a = el("a", "choice", c.title);
      a.href = c.url; a.target = "_blank"; a.rel = "noopener";
      return a;
    }
    var btn = el("button", "choice", c.title);
    btn.type = "button";
    btn.dataset.message = b.id;
    btn.dataset.choice = c.id;
    if (c.description) btn.appendChild(el("small", "", c.description));
    btn.addEventListener("click", function () { post("/tap", { message: b.id, choice: c.id }); });
    return btn;
  }

  function render(thread) {
    thread = thread || [];
    var atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
    list.textContent = "";
    thread.forEach(function (b, i) {
      var li = el("li", "bubble " + b.from);
      li.dataset.id = b.id;
      li.dataset.kind = b.kind;
      if (b.header) li.appendChild(el("div", "head", b.header));
      if (b.kind === "image") {
        var photo = el("img", "photo");
        photo.src = staticBase + "/photo.svg";
        photo.alt = "Photo";
        li.appendChild(photo);
      }
      if (b.text) li.appendChild(el("div", "text", b.text));
      if (b.footer) li.appendChild(el("div", "foot", b.footer));
      if (b.kind === "buttons" || b.kind === "optin_request") {
        var bs = el("div", "choices");
        b.choices.forEach(function (c) { bs.appendChild(choiceButton(b, c)); });
        li.appendChild(bs);
      } else if (b.kind === "list") {
        var d = el("details");
        d.appendChild(el("summary", "", b.list_button || "Menu"));
        var rows = el("div", "choices");
        rows.setAttribute("role", "group");
        rows.setAttribute("aria-label", b.list_button || "Menu");
        b.choices.forEach(function (c) { rows.appendChild(choiceButton(b, c)); });
        d.appendChild(rows);
        li.appendChild(d);
      }
      if (b.elements) {
        var cards = el("div", "cards");
        b.elements.forEach(function (e) {
          var card = el("div", "card");
          if (e.image_url) { var img = el("img"); img.src = e.image_url; img.alt = ""; card.appendChild(img); }
          card.appendChild(el("div", "head", e.title));
          if (e.subtitle) card.appendChild(el("div", "foot", e.subtitle));
          var bs = el("div", "choices");
          (e.buttons || []).forEach(function (c) { bs.appendChild(choiceButton(b, c)); });
          card.appendChild(bs);
          cards.appendChild(card);
        });
        li.appendChild(cards);
      }
      var meta = new Date(b.time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      if (b.status) meta += " · " + b.status;
      var m = el("div", "meta" + (b.status === "failed" ? " failed" : ""), meta);
      if (b.error) m.textContent += ": " + b.error;
      li.appendChild(m);
      list.appendChild(li);
      // Quick replies show under the last message only, as on the phone.
      if (b.kind === "quick_replies" && i === thread.length - 1) {
        var q = el("li", "choices quick");
        q.setAttribute("aria-label", "Quick replies");
        b.choices.forEach(function (c) { q.appendChild(choiceButton(b, c)); });
        list.appendChild(q);
      }
    });
    if (atEnd) list.scrollTop = list.scrollHeight;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    post("/say", { text: text });
  });

  document.getElementById("photo").addEventListener("click", function () {
    var caption = input.value;
    input.value = "";
    post("/photo", { caption: caption });
  });

  render(JSON.parse(document.getElementById("initial").textContent || "[]"));
  list.scrollTop = list.scrollHeight;
  var es = new EventSource(base + "/events");
  es.onmessage = function (ev) { render(JSON.parse(ev.data)); };
})();
