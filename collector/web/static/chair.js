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

  // the verdicts from best to worst: a change to a higher rank is a change for the worse (sound, issue 15)
  var RANK = {not_started: 0, ended: 0, equal_terms: 0, not_all_monitored: 1, at_risk: 2,
              monitoring_interrupted: 3, adjourn: 4, substitute_due: 5};
  function hhmm(t) {
    return new Date(t * 1000).toLocaleTimeString(lang === "en" ? "en-GB" : "sv-SE",
      {timeZone: "Europe/Stockholm", hour: "2-digit", minute: "2-digit"});
  }
  function dash(list) { return list.join(", "); }
  // the banner's lines: [head, why...]
  function bannerLines() {
    var head = T["verdict." + view.verdict] || view.verdict;
    var reasons = (view.reasons || []).filter(function (r) { return r.code !== "adjourned"; });
    var why = reasons.map(say);
    if (view.adjourned_since && view.phase === "running" && view.verdict === "substitute_due") {
      why.push(T["banner.adjourned"] + " " + hhmm(view.adjourned_since));  // the substitute comes first (H16)
    } else if (view.adjourned_since && view.phase === "running" && view.verdict !== "monitoring_interrupted") {
      // H15/H16: after adjourning the banner says for whom the meeting waits, not "Ajournera" again
      var waiting = view.waiting_for || [];
      head = T["banner.adjourned"] + " " + hhmm(view.adjourned_since) + " – " +
        (waiting.length ? T["banner.waiting_for"] + " " + dash(waiting) : T["banner.waiting_for_nobody"]);
      if (view.five_minutes_at) why.unshift(T["banner.five_minutes_at"] + " " + clock(view.five_minutes_at) + " (H16)");
      return [head].concat(short(why));
    }
    // "Ajournera — Anna Andersson" on the first line, why on the next (readable across a table)
    if ((view.verdict === "adjourn" || view.verdict === "substitute_due") && reasons.length && reasons[0].member_id) {
      var first = why[0], cut = first.indexOf(": ");
      if (cut > 0) { head += " — " + first.slice(0, cut); why[0] = first.slice(cut + 2); }
    }
    if (view.phase === "pre" || view.phase === "closed") {
      // H8: connect 15 minutes before the start; after that deadline, who has not
      var late = view.participants.filter(function (p) {
        return p.state === "expected" && (p.flags || []).indexOf("late_connect") >= 0;
      }).map(function (p) { return p.name; });
      if (late.length) why.unshift(T["banner.not_connected_by"] + " " + hhmm(view.connect_by) + " (H8): " + dash(late));
      else why.unshift(T["banner.connect_by"] + " " + hhmm(view.connect_by) + " (H8)");
    }
    return [head].concat(short(why));
  }
  // the banner stays in view (sticky): at most MAX_WHY lines of why, the rest are in the table
  var MAX_WHY = 4;
  function short(why) {
    if (why.length <= MAX_WHY) return why;
    return why.slice(0, MAX_WHY - 1).concat(["… " + (why.length - MAX_WHY + 1) + " " + T["banner.more"]]);
  }

  function renderBanner(stale) {
    var b = document.getElementById("banner");
    var verdict = stale ? "stale" : view.verdict;
    var lines = stale ? [T.stale + " " + clock(lastEvent / 1000 + offset), T.reconnecting] : bannerLines();
    var sig = verdict + "\n" + lines.join("\n");
    if (b.getAttribute("data-sig") === sig) return;  // unchanged: not rebuilt (screen readers, issue 15)
    b.setAttribute("data-sig", sig);
    b.className = "banner v-" + verdict;
    b.setAttribute("data-verdict", verdict);
    b.textContent = "";
    b.appendChild(icon(stale ? "eye_off" : "verdict." + view.verdict));
    var box = el("span");
    box.appendChild(el("span", "head", lines[0]));
    lines.slice(1).forEach(function (w) { box.appendChild(el("span", "why", w)); });
    b.appendChild(box);
    // screen readers hear the banner's head once when it changes, not every update of the reasons
    if (lines[0] !== renderBanner.announced) {
      renderBanner.announced = lines[0];
      document.getElementById("announce").textContent = lines[0];
    }
  }

  // Issue 15: the chair hears and feels a change for the worse (a tone, a vibration on a tablet),
  // never on the first load; she can switch it off (remembered in this browser).
  var SOUND_KEY = "likavillkor.chair.sound", audio = null;
  function soundOn() {
    try { return window.localStorage.getItem(SOUND_KEY) !== "off"; } catch (e) { return true; }
  }
  function audioContext() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    if (!audio) audio = new AC();
    if (audio.state === "suspended" && audio.resume) audio.resume();
    return audio;
  }
  function alertWorse() {
    if (!soundOn()) return;
    var ctx = audioContext();
    if (ctx) {
      // two falling square-wave tones: distinct from a notification chime
      var t = ctx.currentTime, osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(587, t + 0.2);
      gain.gain.setValueAtTime(0.12, t);
      gain.gain.setValueAtTime(0, t + 0.45);
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(t); osc.stop(t + 0.5);
    }
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  }
  function setupSound() {
    var box = document.getElementById("sound");
    if (!box) return;
    box.checked = soundOn();
    box.addEventListener("change", function () {
      try { window.localStorage.setItem(SOUND_KEY, box.checked ? "on" : "off"); } catch (e) { /* private mode */ }
      if (box.checked) audioContext();  // a user gesture: the browser lets the tone play later
    });
    // browsers start audio only after a gesture: any click or key on the page unlocks it
    var unlock = function () { if (soundOn()) audioContext(); };
    document.addEventListener("click", unlock, {once: true});
    document.addEventListener("keydown", unlock, {once: true});
  }

  // H14: the reminder to read out at the start (quality and secrecy), dismissible per meeting
  function setupReminder() {
    var box = document.getElementById("reminder");
    if (!box) return;
    var key = "likavillkor.chair.reminder." + boot.meeting_id;
    var closed = false;
    try { closed = window.localStorage.getItem(key) === "closed"; } catch (e) { /* private mode */ }
    box.hidden = closed;
    var btn = document.getElementById("reminder-close");
    btn.addEventListener("click", function () {
      box.hidden = true;
      try { window.localStorage.setItem(key, "closed"); } catch (e) { /* private mode */ }
      var focus = document.getElementById("banner"); if (focus) focus.focus();
    });
  }

  // H12: devices on no roster heard in this meeting's window
  function renderUnknown() {
    var box = document.getElementById("unknown");
    if (!box) return;
    var list = view.unknown_devices || [];
    var sig = list.join("\n");
    if (box.getAttribute("data-sig") === sig) return;
    box.setAttribute("data-sig", sig);
    box.hidden = !list.length;
    var ul = document.getElementById("unknown-list"); ul.textContent = "";
    list.forEach(function (d) { ul.appendChild(el("li", null, d)); });
  }

  function renderStatus() {
    var s = document.getElementById("status-line");
    var sig = [view.adjourned_since, view.vote_running, view.agenda_item, view.secret].join("|");
    if (s.getAttribute("data-sig") === sig) return;  // aria-live: only a real change is read out
    s.setAttribute("data-sig", sig);
    s.textContent = "";
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
    var sel = el("select"); sel.id = "sub-" + p.member_id; sel.setAttribute("data-key", "sub:" + p.member_id);
    sel.setAttribute("aria-label", T.substitute_pick + ": " + p.name);
    subs.forEach(function (q) { var o = el("option", null, q.name); o.value = q.member_id; sel.appendChild(o); });
    box.appendChild(sel);
    var b = el("button", null, T["act.substitute"]); b.type = "button";
    b.setAttribute("data-kind", "substitute"); b.setAttribute("data-member", p.member_id);
    b.setAttribute("data-key", "substitute:" + p.member_id);
    b.setAttribute("aria-label", T["act.substitute"] + ": " + p.name);
    box.appendChild(b);
    return box;
  }
  function roleText(p) {
    var r = T["role." + p.role] || p.role;
    if (p.role === "ersättare") r += " (" + (p.serving ? T["role.serving"] : T["role.not_serving"]) + ")";
    return r;
  }
  function button(kind, p, text, cls) {
    var b = el("button", cls || null, text || T["act." + kind]); b.type = "button";
    b.setAttribute("data-kind", kind); b.setAttribute("data-member", p.member_id);
    b.setAttribute("data-key", kind + ":" + p.member_id);
    b.setAttribute("aria-label", (text || T["act." + kind]) + ": " + p.name);
    return b;
  }
  // H16: she lost the agent's contact but the chair sees her in the meeting program (with a reason)
  function presentBox(p, box) {
    var id = "present-" + p.member_id;
    var label = el("label", "small", T["present.reason"]); label.htmlFor = id;
    var input = el("input"); input.id = id; input.maxLength = 500; input.setAttribute("data-key", "reason:" + p.member_id);
    input.setAttribute("autocomplete", "off");
    box.appendChild(label); box.appendChild(input);
    box.appendChild(button("present", p));
  }
  // H13: the roll call, one per participant: answered, seen, heard
  function rollCallBox(p) {
    var fs = el("fieldset", "rollcall");
    fs.appendChild(el("legend", "small", T["rc.legend"] + ": " + p.name));
    ["answered", "seen", "heard"].forEach(function (mark) {
      var l = el("label", "small"), c = el("input");
      c.type = "checkbox"; c.checked = true; c.value = mark; c.setAttribute("data-key", "rc-" + mark + ":" + p.member_id);
      c.className = "rc-" + p.member_id;
      l.appendChild(c); l.appendChild(document.createTextNode(" " + T["rc." + mark]));
      fs.appendChild(l);
    });
    fs.appendChild(button("roll_call", p));
    return fs;
  }
  function rowActions(p) {
    var box = el("div", "rowacts");
    if (p.state === "replaced") {
      // H16: a replaced member may not return: no Jäv; the chair records who steps in
      if (!p.substituted_by && p.serving) return substituteBox(p);
      return box;
    }
    if (p.state === "left") return box;
    if (p.state === "excused") { box.appendChild(button("return", p)); return box; }
    if (p.state === "lost" || p.present_until) {
      presentBox(p, box);
      box.appendChild(button("left", p));
    } else {
      box.appendChild(button("excuse", p));
    }
    box.appendChild(rollCallBox(p));
    return box;
  }
  function rollCallNode(p) {
    if (p.roll_call_at == null) return null;
    var marks = p.roll_call || [];
    var txt = T["rc.legend"] + " " + clock(p.roll_call_at) + ": " +
      (marks.length ? marks.map(function (m) { return T["rc." + m].toLowerCase(); }).join(", ") : T["rc.no_answer"]);
    var ok = marks.length === 3;
    return badge(ok ? "s-good" : "s-warn", ok ? "check" : "warning", txt);
  }

  // One row per participant, made once; each cell is rebuilt only when what it shows changed (its
  // data-sig), so keyboard focus, a half-typed reason and the screen reader's place survive updates.
  var rowsKey = null, rowOf = {};
  var CELLS = ["name", "state", "reason", "elapsed", "countdown", "network", "selftest", "mediapath"];
  function setCell(td, sig, build) {
    if (td.getAttribute("data-sig") === sig) return;
    var active = document.activeElement, key = null, values = {};
    if (active && td.contains(active)) key = active.getAttribute("data-key");
    td.querySelectorAll("input[data-key]").forEach(function (i) {
      if (i.type !== "checkbox") values[i.getAttribute("data-key")] = i.value;
    });
    td.setAttribute("data-sig", sig);
    td.textContent = "";
    var content = build();
    if (content instanceof Node) td.appendChild(content); else td.textContent = content == null ? "" : content;
    Object.keys(values).forEach(function (k) {
      var i = td.querySelector('[data-key="' + k + '"]'); if (i) i.value = values[k];
    });
    if (key) { var again = td.querySelector('[data-key="' + key + '"]'); if (again) again.focus(); }
  }
  function nameNode(p) {
    var box = el("span", null, p.name);
    var mode = p.monitoring || "agent";
    box.appendChild(el("div", "small muted", roleText(p) + " · " + p.device_id + " · " + (T["mon." + mode] || mode)));
    return box;
  }
  // H17: what the member herself told the chair, in her own row too (the banner has it first)
  function toldBy(p) {
    return (view.reasons || []).filter(function (r) { return r.code === "unequal_terms" && r.member_id === p.member_id; });
  }
  function reasonNode(p) {
    var box = el("span", null, sayFor(p, p.reason));
    (p.reasons || []).forEach(function (r) {
      // the countdown has its own column
      if ((p.reason && r.code === p.reason.code) || r.code === "substitute_countdown") return;
      box.appendChild(el("div", "small", sayFor(p, r)));
    });
    toldBy(p).forEach(function (r) {
      var told = el("div", "small told");
      told.appendChild(icon("warning"));
      told.appendChild(el("span", null, " " + say(r) + " (H17)"));
      box.appendChild(told);
    });
    return box;
  }
  function networkNode(p) {
    var box = el("span", null, linkText(p) + (p.rtt_ms != null ? " · " + Math.round(p.rtt_ms) + " ms" : "") +
      (p.loss_percent != null && p.loss_percent > 0 ? " · " + p.loss_percent.toFixed(1) + " %" : ""));
    box.appendChild(el("div", "battery", T["col.battery"] + ": " + batteryText(p)));
    return box;
  }
  function mediaRollNode(p) {
    var box = el("span");
    box.appendChild(mediapathNode(p));
    var rc = rollCallNode(p);
    if (rc) { var d = el("div", "rc-result"); d.appendChild(rc); box.appendChild(d); }
    return box;
  }
  function newRow(p) {
    var tr = el("tr"); tr.setAttribute("data-member", p.member_id);
    CELLS.forEach(function (c) {
      var td = el("td", c); td.setAttribute("data-label", T["col." + (c === "name" ? "member" : c === "elapsed" ? "lost" : c)] || "");
      tr.appendChild(td);
    });
    if (boot.may_act) { var td = el("td", "acts"); td.setAttribute("data-label", T["col.actions"]); tr.appendChild(td); }
    return tr;
  }
  function sigOf(o) { return JSON.stringify(o); }
  function renderRows() {
    var body = document.getElementById("rows");
    var ended = view.verdict === "ended";
    var key = view.participants.map(function (p) { return p.member_id; }).join("\n") + "|" + ended;
    if (key !== rowsKey) {
      rowsKey = key; rowOf = {}; body.textContent = "";
      view.participants.forEach(function (p) { var tr = newRow(p); rowOf[p.member_id] = tr; body.appendChild(tr); });
    }
    var subs = substitutes().map(function (q) { return q.member_id + ":" + q.name; });
    view.participants.forEach(function (p) {
      var tr = rowOf[p.member_id], td = tr.children;
      tr.setAttribute("data-state", p.state);
      setCell(td[0], sigOf([p.name, p.role, p.serving, p.device_id, p.monitoring]), function () { return nameNode(p); });
      td[0].setAttribute("data-monitoring", p.monitoring || "agent");
      setCell(td[1], p.state, function () {
        return badge(stateClass(p.state), "state." + p.state, T["state." + p.state] || p.state);
      });
      setCell(td[2], sigOf([p.reason, p.reasons, p.selftest && p.selftest.failed, toldBy(p)]), function () { return reasonNode(p); });
      td[3].setAttribute("data-lost-since", p.lost_since == null ? "" : p.lost_since);
      td[4].setAttribute("data-remaining", p.substitute_in_s == null ? "" : p.substitute_in_s);
      setCell(td[5], sigOf([p.link, p.rtt_ms == null ? null : Math.round(p.rtt_ms),
        p.loss_percent == null ? null : p.loss_percent.toFixed(1), p.battery_percent == null ? null : Math.round(p.battery_percent),
        p.battery_charging]), function () { return networkNode(p); });
      setCell(td[6], sigOf(p.selftest), function () { return selftestNode(p); });
      setCell(td[7], sigOf([p.mediapath, p.roll_call_at, p.roll_call]), function () { return mediaRollNode(p); });
      if (boot.may_act) {
        var asig = sigOf([ended, p.state, p.serving, p.substituted_by, !!p.present_until,
                          p.state === "replaced" ? subs : null]);
        setCell(td[8], asig, function () { return ended ? "" : rowActions(p); });
      }
    });
    tick();
  }

  // The clocks tick here, between server updates: elapsed since lost_since, and the five-minute
  // countdown (H16) from the server's remaining seconds at view.at, on the server's clock.
  function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
  function tick() {
    if (!view) return;
    var now = serverNow();
    setText(document.getElementById("clock"), clock(now));
    var rows = document.querySelectorAll("#rows tr");
    for (var i = 0; i < rows.length; i++) {
      var e = rows[i].querySelector("td.elapsed"), c = rows[i].querySelector("td.countdown");
      var ls = e.getAttribute("data-lost-since");
      var sig = ls ? mmss(now - parseFloat(ls)) : "";
      if (e.getAttribute("data-shown") !== sig) {
        e.setAttribute("data-shown", sig);
        e.textContent = "";
        if (ls) {
          e.appendChild(el("span", "big", sig));
          e.appendChild(el("div", "small muted", T.since + " " + clock(parseFloat(ls))));
        }
      }
      var rem = c.getAttribute("data-remaining");
      setText(c, rem ? mmss(parseFloat(rem) - (now - view.at)) : "");
    }
    var stale = Date.now() - lastEvent > STALE_MS;
    if (stale !== renderBanner.wasStale) { renderBanner(stale); renderBanner.wasStale = stale; }
  }

  // show the buttons that make sense now (the engine validates every action); no Ajournera before
  // the meeting has started (issue 15)
  function renderButtons() {
    var box = document.getElementById("actions");
    if (!box) return;
    var running = view.phase === "running";
    var hide = {adjourn: !!view.adjourned_since || !running, resume: !view.adjourned_since,
                vote_start: view.vote_running, vote_end: !view.vote_running};
    Object.keys(hide).forEach(function (k) {
      var b = box.querySelector('button[data-kind="' + k + '"]');
      if (b && b.hidden !== hide[k]) b.hidden = hide[k];
    });
    var ended = view.verdict === "ended";  // nothing left to record after the meeting
    if (box.hidden !== ended) box.hidden = ended;
  }

  var views = 0;
  function apply(v) {
    var before = view ? view.verdict : null;
    view = v; lastEvent = Date.now();
    offset = v.at - Date.now() / 1000;
    renderBanner.wasStale = false;
    renderBanner(false); renderStatus(); renderButtons(); renderRows(); renderUnknown();
    // a change for the worse is heard and felt; the first view of the page is not a change
    if (before !== null && (RANK[v.verdict] || 0) > (RANK[before] || 0)) alertWorse();
    views += 1;
    document.body.setAttribute("data-views", String(views));
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(boot.events_url);
    source.addEventListener("view", function (ev) {
      retryMs = 1000; setText(document.getElementById("conn"), "");
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
      setText(document.getElementById("conn"), T.reconnecting);
      // EventSource retries by itself while the server answers 200; after a refused reconnect
      // (collector restarting behind a proxy, 5xx) it gives up: start a new one with back-off.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, retryMs); retryMs = Math.min(retryMs * 2, 10000);
      }
    };
  }

  // what failed, in the page's language (never the browser's "Failed to fetch")
  function failure(status, j) {
    if (j && j.code) return T["refusal." + j.code] || T["refusal.other"];  // collector.web.refusals
    if (status === 401 || status === 403) return T["error.signed_out"];
    if (status === 422) return T["error.invalid"];
    return T["error.server"] + " (" + status + ")";
  }
  var fadeTimer = null;
  function toastSay(text, ok) {
    var toast = document.getElementById("toast");
    if (fadeTimer) { clearTimeout(fadeTimer); fadeTimer = null; }
    toast.textContent = text;
    toast.className = "badge " + (ok ? "s-good" : "s-bad");
    // a confirmation fades after a while; an error stays until the next action
    if (ok) fadeTimer = setTimeout(function () {
      toast.className += " fade";
      fadeTimer = setTimeout(function () { toast.textContent = ""; toast.className = ""; fadeTimer = null; }, 1600);
    }, 4000);
  }
  function post(body) {
    return fetch(boot.actions_url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": boot.csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (j) {
        throw {said: failure(r.status, j)};
      });
      var who = body.member_id ? " (" + nameOf(body.member_id) + ")" : "";
      toastSay(T["act.recorded"] + ": " + T["act." + body.kind] + who + (body.item ? " § " + body.item : "") +
        " " + clock(serverNow()), true);
    }, function () {
      throw {said: T["error.network"]};  // fetch rejects only when the server could not be reached
    }).catch(function (err) {
      toastSay(T["act.failed"] + ": " + (err && err.said ? err.said : T["error.network"]), false);
    });
  }
  function nameOf(id) {
    for (var i = 0; i < view.participants.length; i++) if (view.participants[i].member_id === id) return view.participants[i].name;
    return id;
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
    if (body.kind === "present") {
      var reason = document.getElementById("present-" + m);
      body.note = reason ? reason.value.trim() : "";  // an empty reason: the engine says why not, in Swedish
    }
    if (body.kind === "roll_call") {
      var marks = [];
      document.querySelectorAll("input.rc-" + CSS.escape(m)).forEach(function (c) { if (c.checked) marks.push(c.value); });
      body.note = marks.join(",");
    }
    b.disabled = true;
    post(body).then(function () { b.disabled = false; });
  });

  setupSound();
  setupReminder();
  apply(boot.view);
  connect();
  setInterval(tick, 500);
})();
