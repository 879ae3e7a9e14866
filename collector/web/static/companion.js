/* The companion page (följesidan, issue 11): answers the collector's probes at once, tells it when
   the page is shown, hidden or closed, and shows the member her own state in large text.
   Works in WebKit (iPad Safari) and Chromium; only a WebSocket, no WebRTC needed. */
(function () {
  "use strict";
  var boot = JSON.parse(document.getElementById("boot").textContent);
  var T = boot.texts;
  var root = document.getElementById("companion");
  var headline = document.getElementById("headline");
  var reasonEl = document.getElementById("reason");
  var watchEl = document.getElementById("watch");
  var figures = document.getElementById("figures");
  var TONE = {ok: "good", ready: "good", connected: "good", degraded: "warn", expected: "warn",
              failing: "bad", lost: "bad", replaced: "bad", not_monitored: "info"};
  var ws = null, lastHeard = 0, backoff = 500, closing = false, refused = false, sock = null, pc = null;
  var visSeq = 0;  // visibility changes; the collector keeps the newest of messages and beacons

  function visible() { return document.visibilityState === "visible"; }

  function send(obj) {
    if (ws && ws.readyState === 1) { try { ws.send(JSON.stringify(obj)); } catch (e) { /* reconnects */ } }
  }

  function setLink(state) { root.setAttribute("data-link", state); }

  function showState(s) {
    root.setAttribute("data-state", s.state || "");
    root.setAttribute("data-watched", s.watched ? "1" : "0");
    root.setAttribute("data-tone", TONE[s.state] || "");
    headline.textContent = T["state." + s.state] || s.state || "";
    // the headline already says "equal terms": no need to repeat it
    var r = s.reason && s.reason.code !== "ok" ? (boot.lang === "en" ? s.reason.en : s.reason.sv) : "";
    reasonEl.textContent = r;
    watchEl.textContent = s.watched ? T.watched : T.not_watched;
    var f = [];
    if (s.rtt_ms != null) f.push(T.rtt + " " + Math.round(s.rtt_ms) + " ms");
    if (s.loss_percent != null) f.push(T.loss + " " + String(Math.round(s.loss_percent * 10) / 10).replace(".", boot.lang === "en" ? "." : ",") + " %");
    figures.textContent = f.join(" · ");
  }

  function connect() {
    if (refused || closing) return;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + boot.ws_path +
      (boot.lang === "en" ? "?lang=en" : "");
    setLink("connecting");
    ws = new WebSocket(url);
    ws.onopen = function () {
      backoff = 500; setLink("open"); lastHeard = Date.now();
      send({t: "v", visible: visible(), seq: visSeq});
    };
    ws.onmessage = function (ev) {
      lastHeard = Date.now();
      var m; try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.t === "p") { send({t: "e", n: m.n}); return; }  // a probe: echo at once
      if (m.t === "s") {
        if (m.sock != null && m.sock !== sock) { sock = m.sock; startRtc(sock); }
        if (m.path) root.setAttribute("data-path", m.path);
        showState(m); return;
      }
      if (m.t === "error") {
        refused = true; setLink("refused");
        headline.textContent = m.message; reasonEl.textContent = ""; watchEl.textContent = "";
      }
    };
    ws.onclose = function (ev) {
      ws = null; sock = null; stopRtc();
      if (ev.code === 4403 || ev.code === 4410) refused = true;
      if (refused || closing) return;
      setLink("closed");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  }

  // Where the browser has WebRTC (Chromium, iPad Safari), an unordered data channel without
  // retransmissions carries the same probes, so loss is the network's own. WebKitGTK has none:
  // the WebSocket alone does the job there.
  function stopRtc() { if (pc) { try { pc.close(); } catch (e) { /* closed */ } pc = null; } }
  function startRtc(forSock) {
    stopRtc();
    if (!window.RTCPeerConnection) return;
    var mine = new RTCPeerConnection({iceServers: boot.ice_servers || []});
    pc = mine;
    var dc = mine.createDataChannel("companion", {ordered: false, maxRetransmits: 0});
    dc.onmessage = function (ev) {
      var m; try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.t === "p") { try { dc.send(JSON.stringify({t: "e", n: m.n})); } catch (e) { /* closing */ } }
    };
    mine.createOffer().then(function (o) { return mine.setLocalDescription(o); }).then(function () {
      return new Promise(function (resolve) {  // wait for host candidates (a LAN needs no STUN)
        if (mine.iceGatheringState === "complete") { resolve(); return; }
        var t = setTimeout(resolve, 3000);
        mine.addEventListener("icegatheringstatechange", function () {
          if (mine.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
        });
      });
    }).then(function () {
      if (pc !== mine) return null;
      return fetch(boot.rtc_url, {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({sock: forSock, sdp: mine.localDescription.sdp, type: "offer"})});
    }).then(function (r) {
      if (!r || !r.ok) throw new Error("offer refused");
      return r.json();
    }).then(function (answer) {
      if (pc === mine) return mine.setRemoteDescription(answer);
    }).catch(function () { if (pc === mine) stopRtc(); });  // the WebSocket carries on alone
  }

  // no probe for a while: say so here too (the collector decides about contact on its own clock)
  setInterval(function () {
    if (refused || closing) return;
    if (Date.now() - lastHeard > boot.probe_timeout_ms) {
      setLink("silent"); headline.textContent = T.no_contact; root.setAttribute("data-tone", "bad");
    }
  }, 500);

  function beacon() {
    if (!navigator.sendBeacon) return;
    try { navigator.sendBeacon(boot.bye_url, sock == null ? "bye" : "bye " + sock + " " + visSeq); } catch (e) { /* best effort */ }
  }
  document.addEventListener("visibilitychange", function () {
    visSeq += 1;
    send({t: "v", visible: visible(), seq: visSeq});
    // hidden: also a beacon, which leaves even when iOS suspends the page at once (screen locked)
    if (!visible()) beacon();
    if (visible() && !ws) connect();
  });
  window.addEventListener("pagehide", function () {
    closing = true;
    visSeq += 1;
    send({t: "bye"});
    beacon();
  });
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted) { closing = false; connect(); }  // back from the back-forward cache
  });
  connect();
}());
