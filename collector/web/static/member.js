// The member's own panel (templates/_member_help.html) on the self-test and companion pages:
// "Jag deltar inte på lika villkor" reaches the chair at once (H17), and what the chair recorded
// about her (jäv and when she may rejoin, H18) is shown, polled from her own status.
// Plain ES2017, no build step: iPad Safari as Chromium. A text is only rewritten when it changes,
// so a screen reader hears each change once.
"use strict";
(function () {
  var btn = document.getElementById("unequal");
  if (!btn) return;
  var out = document.getElementById("unequal-status"), notice = document.getElementById("notice");
  var note = document.getElementById("unequal-note");
  var q = document.documentElement.lang === "en" ? "?lang=en" : "";
  var sentAt = 0;

  function fetchT(url, opts, ms) {
    var ctl = window.AbortController ? new AbortController() : null;
    opts = opts || {}; if (ctl) opts.signal = ctl.signal;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, ms);
    return fetch(url, opts).then(function (r) { clearTimeout(timer); return r; },
      function (e) { clearTimeout(timer); throw e; });
  }
  function say(el, text, attr, value) {
    if (el.textContent !== text) el.textContent = text;
    if (attr) el.setAttribute(attr, value);
  }

  btn.addEventListener("click", function () {
    btn.disabled = true;
    say(out, btn.getAttribute("data-sending"), "data-result", "sending");
    fetchT(btn.getAttribute("data-url") + q, {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({note: note ? note.value.slice(0, 500) : ""})}, 10000)
      .then(function (r) {
        return r.json().then(function (j) { return {ok: r.ok, body: j}; }, function () { return {ok: false, body: {}}; });
      })
      .then(function (x) {
        if (x.ok) { sentAt = Date.now(); if (note) note.value = ""; }
        say(out, x.body.message || btn.getAttribute("data-failed"), "data-result", x.ok ? "sent" : "refused");
      })
      .catch(function () { say(out, btn.getAttribute("data-failed"), "data-result", "failed"); })
      .then(function () { btn.disabled = false; });
  });

  function show(s) {
    say(notice, s.notice || "", "data-kind", s.excused_at ? "excused" : s.returned_at ? "returned" : "");
    notice.hidden = !s.notice;
    // her report stands until the chair resumes the meeting or records her leaving or return
    if (s.unequal_text) { if (out.getAttribute("data-result") !== "sending") say(out, s.unequal_text, "data-result", "sent"); }
    else if (out.getAttribute("data-result") === "sent" && Date.now() - sentAt > 5000) say(out, "", "data-result", "");
  }
  function poll() {
    fetchT(btn.getAttribute("data-status-url") + q, {cache: "no-store"}, 8000)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) show(s); })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { setTimeout(poll, 5000); });
  }
  poll();
})();
