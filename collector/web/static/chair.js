// The chair's live view. One renderer, fed by the same MeetingView JSON as GET /api/meetings/{id}:
// first from the page (boot.view), then from the server-sent events stream (boot.events_url).
"use strict";
(function () {
  var boot = JSON.parse(document.getElementById("boot").textContent);
  var T = boot.texts, I = boot.icons, lang = boot.lang;
  var view = null, offset = 0, lastEvent = Date.now(), source = null, retryMs = 1000;
  var STALE_MS = 12000;
  var GOOD = {ok: 1, ready: 1, connected: 1}, WARN = {degraded: 1, expected: 1}, BAD = {failing: 1, lost: 1, replaced: 1};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function icon(name) { var s = el("span"); s.innerHTML = I[name] || I.question; return s.firstChild; }
  function badge(cls, iconName, text) {
    var b = el("span", "badge " + cls); b.appendChild(icon(iconName)); b.appendChild(el("span", null, text)); return b;
  }
  function say(r) { return r ? (r[lang] || r.sv) : ""; }
  function serverNow() { return Date.now() / 1000 + offset; }
  function clock(t) {
    return new Date(t * 1000).toLocaleTimeString(lang === "en" ? "en-GB" : "sv-SE",
      {timeZone: "Europe/Stockholm", hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }
  function mmss(s) {
    s = Math.max(0, Math.round(s)); var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function stateClass(s) {
    if (s === "not_monitored") return "s-info";  // no claim either way: checked at the roll call (H13)
    return GOOD[s] ? "s-good" : WARN[s] ? "s-warn" : BAD[s] ? "s-bad" : "s-neutral";
  }

  function renderBanner(stale) {
    var b = document.getElementById("banner");
    var verdict = stale ? "stale" : view.verdict;
    b.className = "banner v-" + verdict;
    b.setAttribute("data-verdict", verdict);
    b.textContent = "";
    b.appendChild(icon(stale ? "eye_off" : "verdict." + view.verdict));
    var box = el("span");
    if (stale) {
      box.appendChild(el("span", null, T.stale + " " + clock(lastEvent / 1000 + offset)));
      box.appendChild(el("span", "why", T.reconnecting));
    } else {
      var head = T["verdict." + view.verdict] || view.verdict;
      var reasons = view.reasons || [];
      var why = reasons.map(say);
      // "Ajournera — Anna Andersson" on the first line, why on the next (readable across a table)
      if ((view.verdict === "adjourn" || view.verdict === "substitute_due") && reasons.length && reasons[0].member_id) {
        var first = why[0], cut = first.indexOf(": ");
        if (cut > 0) { head += " — " + first.slice(0, cut); why[0] = first.slice(cut + 2); }
      }
      box.appendChild(el("span", null, head));
      why.forEach(function (w) { box.appendChild(el("span", "why", w)); });
    }
    b.appendChild(box);
    // screen readers hear the verdict when it changes, not every tick of the reasons
    if (verdict !== renderBanner.announced) {
      renderBanner.announced = verdict;
      document.getElementById("announce").textContent = box.firstChild ? box.firstChild.textContent : verdict;
    }
  }

  function renderStatus() {
    var s = document.getElementById("status-line"); s.textContent = "";
    if (view.adjourned_since) s.appendChild(badge("s-bad", "pause", T.adjourned_since + " " + clock(view.adjourned_since)));
    if (view.vote_running) s.appendChild(badge("s-info", "flag", T.vote_running));
    if (view.agenda_item) s.appendChild(badge("s-neutral", "flag", T.agenda_item + " § " + view.agenda_item));
    if (view.secret) s.appendChild(badge("s-info", "eye_off", T.secret_meeting));
  }

  function cell(tr, cls, content) {
    var td = el("td", cls);
    if (content instanceof Node) td.appendChild(content); else td.textContent = content == null ? "" : content;
    tr.appendChild(td); return td;
  }
  function linkText(p) {
    if (!p.link) return T.unknown;
    return T["link." + p.link] || p.link;
  }
  function batteryText(p) {
    if (p.battery_percent == null) return T.unknown;
    var c = p.battery_charging === true ? T.charging : p.battery_charging === false ? T.not_charging : "";
    return Math.round(p.battery_percent) + " %" + (c ? ", " + c : "");
  }
  // a self-test check id by name: check.<id>, else its group check.<group>, else the id (collector.web.i18n.named)
  function checkName(id) { return T["check." + id] || T["check." + id.split(".")[0]] || id; }
  function checkNames(ids) { return ids.map(checkName).join(", "); }
  // the engine words a failed self-test with its check ids: the page names the checks instead
  function sayFor(p, r) {
    if (r && r.code === "selftest_failed" && p.selftest && p.selftest.failed && p.selftest.failed.length)
      return T["reason.selftest_failed"] + ": " + checkNames(p.selftest.failed);
    return say(r);
  }
  function selftestNode(p) {
    var st = p.selftest;
    if (!st) return badge("s-neutral", "question", T.not_run);
    var cls = st.overall === "pass" ? "s-good" : st.overall === "warn" ? "s-warn" : "s-bad";
    var ic = st.overall === "pass" ? "check" : st.overall === "warn" ? "warning" : "cross";
    var txt = st.overall === "pass" ? T.passed : st.overall === "warn" ? T.warned : T.failed;
    var box = el("span");
    box.appendChild(badge(cls, ic, txt));
    box.appendChild(el("div", "small muted", clock(st.at) + " · " + (T["source." + st.source] || st.source) +
      (st.failed && st.failed.length ? " · " + checkNames(st.failed) : "")));
    return box;
  }
  // H13 roll-call helper: the latest media path check (collector.peers.media's result)
  function mediapathNode(p) {
    var m = p.mediapath;
    if (!m) return badge("s-neutral", "question", T.no_check);
    var v = m.verdict;
    var cls = v === "good" ? "s-good" : v === "degraded" ? "s-warn" : "s-bad";
    var ic = v === "good" ? "check" : v === "degraded" ? "warning" : "cross";
    var ok = v === "good" || v === "degraded";
    var box = el("span");
    box.appendChild(badge(cls, ic, ok ? T.seen_heard : T.not_seen_heard));
    var detail = [];
    var at = m.at || m.started_at;
    if (at) detail.push(clock(at));
    (m.findings || []).forEach(function (f) { if (f.status !== "pass" && f.text) detail.push(say(f.text)); });
    if (m.reason) detail.push(m.connected === false ? T["mediapath.not_connected"] : m.reason);
    if (detail.length) box.appendChild(el("div", "small muted", detail.join(" · ")));
    return box;
  }
  // H16: the ersättare who may step in: on this meeting's roster, not serving, present
  function substitutes() {
    return view.participants.filter(function (q) {
      return q.role === "ersättare" && !q.serving &&
        ["ok", "degraded", "failing", "connected", "ready"].indexOf(q.state) >= 0;
    });
  }
  function substituteBox(p) {
    var box = el("div", "rowacts");
    var subs = substitutes();
    if (!subs.length) { box.appendChild(el("div", "small", T.no_substitute)); return box; }
    var sel = el("select"); sel.id = "sub-" + p.member_id;
    sel.setAttribute("aria-label", T.substitute_pick + ": " + p.name);
    subs.forEach(function (q) { var o = el("option", null, q.name); o.value = q.member_id; sel.appendChild(o); });
    box.appendChild(sel);
    var b = el("button", null, T["act.substitute"]); b.type = "button";
    b.setAttribute("data-kind", "substitute"); b.setAttribute("data-member", p.member_id);
    b.setAttribute("aria-label", T["act.substitute"] + ": " + p.name);
    box.appendChild(b);
    return box;
  }
  function roleText(p) {
    var r = T["role." + p.role] || p.role;
    if (p.role === "ersättare") r += " (" + (p.serving ? T["role.serving"] : T["role.not_serving"]) + ")";
    return r;
  }
  function rowActions(p) {
    if (p.state === "replaced" && !p.substituted_by && p.serving) return substituteBox(p);
    var box = el("div", "rowacts");
    var kinds = p.state === "excused" ? ["return"] : ["excuse"];
    kinds.forEach(function (k) {
      var b = el("button", null, T["act." + k]); b.type = "button";
      b.setAttribute("data-kind", k); b.setAttribute("data-member", p.member_id);
      b.setAttribute("aria-label", T["act." + k] + ": " + p.name);
      box.appendChild(b);
    });
    return box;
  }

  function renderRows() {
    var body = document.getElementById("rows"); body.textContent = "";
    view.participants.forEach(function (p) {
      var tr = el("tr"); tr.setAttribute("data-member", p.member_id); tr.setAttribute("data-state", p.state);
      var name = cell(tr, "name", p.name);
      var mode = p.monitoring || "agent";
      name.appendChild(el("div", "small muted", roleText(p) + " · " + p.device_id + " · " + (T["mon." + mode] || mode)));
      name.setAttribute("data-monitoring", mode);
      cell(tr, "state", badge(stateClass(p.state), "state." + p.state, T["state." + p.state] || p.state));
      var why = cell(tr, "reason", sayFor(p, p.reason));
      (p.reasons || []).forEach(function (r) {
        // the countdown has its own column
        if ((p.reason && r.code === p.reason.code) || r.code === "substitute_countdown") return;
        why.appendChild(el("div", "small", sayFor(p, r)));
      });
      var e = cell(tr, "elapsed", ""); e.setAttribute("data-lost-since", p.lost_since == null ? "" : p.lost_since);
      var c = cell(tr, "countdown", "");
      c.setAttribute("data-remaining", p.substitute_in_s == null ? "" : p.substitute_in_s);
      var net = cell(tr, "network", linkText(p) + (p.rtt_ms != null ? " · " + Math.round(p.rtt_ms) + " ms" : "") +
        (p.loss_percent != null && p.loss_percent > 0 ? " · " + p.loss_percent.toFixed(1) + " %" : ""));
      net.appendChild(el("div", "battery", T["col.battery"] + ": " + batteryText(p)));
      cell(tr, "selftest", selftestNode(p));
      cell(tr, "mediapath", mediapathNode(p));
      if (boot.may_act) cell(tr, "acts", view.verdict === "ended" ? "" : rowActions(p));
      body.appendChild(tr);
    });
    tick();
  }

  // The clocks tick here, between server updates: elapsed since lost_since, and the five-minute
  // countdown (H16) from the server's remaining seconds at view.at, on the server's clock.
  function tick() {
    if (!view) return;
    var now = serverNow();
    document.getElementById("clock").textContent = clock(now);
    var rows = document.querySelectorAll("#rows tr");
    for (var i = 0; i < rows.length; i++) {
      var e = rows[i].querySelector("td.elapsed"), c = rows[i].querySelector("td.countdown");
      var ls = e.getAttribute("data-lost-since");
      e.textContent = "";
      if (ls) {
        e.appendChild(el("span", "big", mmss(now - parseFloat(ls))));
        e.appendChild(el("div", "small muted", T.since + " " + clock(parseFloat(ls))));
      }
      var rem = c.getAttribute("data-remaining");
      c.textContent = rem ? mmss(parseFloat(rem) - (now - view.at)) : "";
    }
    var stale = Date.now() - lastEvent > STALE_MS;
    if (stale !== renderBanner.wasStale) { renderBanner(stale); renderBanner.wasStale = stale; }
  }

  // show the buttons that make sense now (both stay reachable: the engine validates every action)
  function renderButtons() {
    var box = document.getElementById("actions");
    if (!box) return;
    var hide = {adjourn: !!view.adjourned_since, resume: !view.adjourned_since,
                vote_start: view.vote_running, vote_end: !view.vote_running};
    Object.keys(hide).forEach(function (k) {
      var b = box.querySelector('button[data-kind="' + k + '"]');
      if (b) b.hidden = hide[k];
    });
    box.hidden = view.verdict === "ended";  // nothing left to record after the meeting
  }

  function apply(v) {
    view = v; lastEvent = Date.now();
    offset = v.at - Date.now() / 1000;
    renderBanner.wasStale = false;
    renderBanner(false); renderStatus(); renderButtons(); renderRows();
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(boot.events_url);
    source.addEventListener("view", function (ev) {
      retryMs = 1000; document.getElementById("conn").textContent = "";
      apply(JSON.parse(ev.data));
    });
    source.addEventListener("signed_out", function () {
      // signed out (here or in another tab), password changed, removed from the body: to sign-in
      source.close();
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
    });
    source.addEventListener("ping", function (ev) {
      lastEvent = Date.now(); var d = JSON.parse(ev.data); if (d.at) offset = d.at - Date.now() / 1000;
    });
    source.onerror = function () {
      document.getElementById("conn").textContent = T.reconnecting;
      // EventSource retries by itself while the server answers 200; after a refused reconnect
      // (collector restarting behind a proxy, 5xx) it gives up: start a new one with back-off.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, retryMs); retryMs = Math.min(retryMs * 2, 10000);
      }
    };
  }

  function post(body) {
    var toast = document.getElementById("toast");
    return fetch(boot.actions_url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": boot.csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (j) {
        // a refusal carries its code: the catalogs word it (refusal.<code>, collector.web.refusals)
        if (j.code) throw new Error(T["refusal." + j.code] || T["refusal.other"]);
        throw new Error(j.detail ? (typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail)) : r.status);
      });
      toast.textContent = T["act.recorded"] + ": " + T["act." + body.kind] + (body.item ? " § " + body.item : "") +
        " " + clock(serverNow());
      toast.className = "badge s-good";
    }).catch(function (err) {
      toast.textContent = T["act.failed"] + ": " + err.message; toast.className = "badge s-bad";
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-kind]") : null;
    if (!b) return;
    var body = {kind: b.getAttribute("data-kind"), by: boot.username};
    var m = b.getAttribute("data-member"); if (m) body.member_id = m;
    if (body.kind === "item_start") {
      var item = document.getElementById("item").value.trim();
      if (!item) { document.getElementById("item").focus(); return; }
      body.item = item;
    }
    if (body.kind === "excuse" && view && view.agenda_item) body.item = view.agenda_item;
    if (body.kind === "substitute") {
      var sel = document.getElementById("sub-" + m);
      if (!sel || !sel.value) return;
      body.substitute_id = sel.value;
    }
    b.disabled = true;
    post(body).then(function () { b.disabled = false; });
  });

  apply(boot.view);
  connect();
  setInterval(tick, 500);
})();
