// The browser self-test (H8, H9): camera and microphone with a local preview, the media path to the
// collector's WebRTC peer (does the room see and hear me?), round-trip time and throughput against the
// collector, then the result is posted and recorded like an agent's self-test (source "browser").
// Plain ES2017, no build step: works in iPad Safari as in Chromium.
"use strict";
(function () {
  var boot = JSON.parse(document.getElementById("boot").textContent);
  var T = boot.texts, I = boot.icons, L = boot.limits;
  var checks = [], stream = null, startedAt = 0, audioCtx = null;

  function $(id) { return document.getElementById(id); }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function withTimeout(p, ms, what) {
    return Promise.race([p, new Promise(function (_, rej) { setTimeout(function () { rej(new Error(what + ": timeout")); }, ms); })]);
  }
  function fetchT(url, opts, ms) {
    var ctl = window.AbortController ? new AbortController() : null;
    opts = opts || {}; if (ctl) opts.signal = ctl.signal;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, ms || 10000);
    return fetch(url, opts).then(function (r) { clearTimeout(timer); return r; },
      function (e) { clearTimeout(timer); throw e; });
  }
  // The main text is plain Swedish; figures, rule numbers and technical names go in the details (issue 15).
  function show(id, status, label, text, detail) {
    var li = document.querySelector('[data-check="' + id + '"]');
    if (!li) { li = document.createElement("li"); li.setAttribute("data-check", id); $("checks").appendChild(li); }
    var cls = {pass: "s-good", warn: "s-warn", fail: "s-bad", error: "s-bad", skipped: "s-neutral", pending: "s-info"}[status];
    var ic = {pass: "check", warn: "warning", fail: "cross", error: "cross", skipped: "question", pending: "clock"}[status];
    li.textContent = "";
    var b = document.createElement("span"); b.className = "badge " + cls; b.innerHTML = I[ic];
    var s = document.createElement("span"); s.textContent = label; b.appendChild(s); li.appendChild(b);
    var d = document.createElement("span"); d.className = "main"; d.textContent = " " + text; li.appendChild(d);
    if (detail) {
      var det = document.createElement("details"), sum = document.createElement("summary"), p = document.createElement("span");
      sum.textContent = T["st.details"]; p.textContent = detail; det.appendChild(sum); det.appendChild(p); li.appendChild(det);
    }
    li.setAttribute("data-status", status);
  }
  function record(id, label, status, value, unit, summary, rule, figures) {
    var detail = [figures, rule ? T["st.rule"] + " " + rule : ""].filter(Boolean).join(" · ");
    checks.push({id: id, status: status, value: value, unit: unit || null, rule: rule || null,
      summary: (summary + (figures ? " (" + figures + ")" : "")).slice(0, 500), label: label, main: summary});
    show(id, status, label, summary, detail);
  }
  function limitText(v, unit, lim) { return v + " " + unit + " (" + T["st.limit"] + " " + lim + " " + unit + ")"; }
  // why getUserMedia refused, in plain words; a refused permission also shows how to allow it
  function mediaError(err) {
    var name = String((err && err.name) || err);
    if (/NotAllowed|Security|PermissionDenied/.test(name)) { $("permission-help").hidden = false; return T["st.denied"]; }
    if (/NotFound|DevicesNotFound|Overconstrained/.test(name)) return T["st.no_device"];
    if (/NotReadable|TrackStart|Abort/.test(name)) return T["st.busy"];
    return T["st.media_error"];
  }
  function level(value, warn, fail, below) {
    if (below) return value < fail ? "fail" : value < warn ? "warn" : "pass";
    return value > fail ? "fail" : value > warn ? "warn" : "pass";
  }

  // 1. camera and microphone, with the preview the member sees
  function cameraAndMic() {
    show("camera.capture", "pending", T["chk.camera"], T["chk.pending"]);
    show("microphone.level", "pending", T["chk.microphone"], T["chk.pending"]);
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      // browsers give the camera only to https pages (and localhost)
      record("camera.capture", T["chk.camera"], "error", null, null, T["st.insecure"], "H1", "isSecureContext = false");
      record("microphone.level", T["chk.microphone"], "error", null, null, T["st.insecure"], "H1", "isSecureContext = false");
      return Promise.resolve();
    }
    return navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}, audio: true})
      .then(function (s) {
        stream = s; $("preview").srcObject = s;
        return Promise.all([measureVideo(s), withTimeout(measureAudio(s), 8000, "audio").catch(function (err) {
          record("microphone.level", T["chk.microphone"], "error", null, null, T["st.mic_error"], "H1", String(err.message || err));
        })]);
      }).catch(function (err) {
        var why = mediaError(err), name = String((err && err.name) || err);
        record("camera.capture", T["chk.camera"], "fail", null, null, why, "H1", name);
        record("microphone.level", T["chk.microphone"], "fail", null, null, why, "H1", name);
      });
  }
  function measureVideo(s) {
    var video = $("preview"), canvas = document.createElement("canvas"), ctx = canvas.getContext("2d");
    var lumas = [], diffs = [], prev = null;
    canvas.width = 64; canvas.height = 48;
    return withTimeout(new Promise(function (r) { if (video.readyState >= 2) r(); else video.onloadeddata = r; }), 5000, "video")
      .then(function () {
        var n = 0;
        return new Promise(function (done) {
          var iv = setInterval(function () {
            ctx.drawImage(video, 0, 0, 64, 48);
            var px = ctx.getImageData(0, 0, 64, 48).data, sum = 0, diff = 0;
            for (var i = 0; i < px.length; i += 4) {
              var y = 0.21 * px[i] + 0.72 * px[i + 1] + 0.07 * px[i + 2]; sum += y;
              if (prev) diff += Math.abs(y - prev[i / 4]);
              if (!prev) { /* first frame */ }
            }
            var cur = new Float32Array(px.length / 4);
            for (var j = 0; j < cur.length; j++) cur[j] = 0.21 * px[j * 4] + 0.72 * px[j * 4 + 1] + 0.07 * px[j * 4 + 2];
            if (prev) diffs.push(diff / cur.length);
            prev = cur; lumas.push(sum / cur.length);
            if (++n >= 10) { clearInterval(iv); done(); }
          }, 200);
        });
      }).then(function () {
        var settings = s.getVideoTracks()[0].getSettings();
        var black = lumas.filter(function (y) { return y <= 20; }).length;   // WebRTC troubleshooter: luma <= 20
        var frozen = diffs.filter(function (d) { return d < 0.5; }).length;
        var mean = lumas.reduce(function (a, b) { return a + b; }, 0) / lumas.length;
        var status = black > lumas.length / 3 || frozen > diffs.length / 3 ? "fail" : "pass";
        var res = (settings.width || video.videoWidth) + "×" + (settings.height || video.videoHeight);
        var why = black > lumas.length / 3 ? T["st.black"]
          : frozen > diffs.length / 3 ? T["st.frozen"] : T["st.camera_ok"];
        record("camera.capture", T["chk.camera"], status, Math.round(mean), "luma", why, "H4",
          res + ", luma " + Math.round(mean) + ", " + black + "/" + lumas.length + " ≤ 20, " + frozen + "/" + diffs.length + " < 0.5");
      }).catch(function (err) {
        record("camera.capture", T["chk.camera"], "error", null, null, T["st.camera_error"], "H4", String(err.message || err));
      });
  }
  function measureAudio(s) {
    var ctx = audioCtx;
    if (!ctx) { record("microphone.level", T["chk.microphone"], "skipped", null, null, T["st.no_web_audio"], "H1", "Web Audio"); return Promise.resolve(); }
    var src = ctx.createMediaStreamSource(s), an = ctx.createAnalyser();
    an.fftSize = 2048; src.connect(an);
    var buf = new Float32Array(an.fftSize), peak = -120, sumDb = 0, n = 0;
    return (ctx.resume ? ctx.resume() : Promise.resolve()).then(function () {
      return new Promise(function (done) {
        var iv = setInterval(function () {
          an.getFloatTimeDomainData(buf);
          var sq = 0; for (var i = 0; i < buf.length; i++) sq += buf[i] * buf[i];
          var db = 20 * Math.log10(Math.sqrt(sq / buf.length) + 1e-9);
          peak = Math.max(peak, db); sumDb += db; n++;
          $("level").style.width = Math.max(0, Math.min(100, (db + 80) * 1.25)) + "%";
          if (n >= 20) { clearInterval(iv); done(); }
        }, 100);
      });
    }).then(function () {
      var status = peak < -60 ? "warn" : "pass";    // quieter than -60 dBFS: muted or dead (testrtc)
      record("microphone.level", T["chk.microphone"], status, Math.round(peak), "dBFS",
        status === "warn" ? T["st.too_quiet"] : T["st.mic_ok"], "H1", limitText(Math.round(peak), "dBFS", -60));
      if (ctx.close) ctx.close();
    });
  }

  // 2. the media path: our camera and microphone to the collector's WebRTC peer (H1, H13). The peer
  // measures what it receives for MEDIA_S seconds; "done" on the data channel asks for the result,
  // which comes back on the same channel (and is recorded for the chair's roll-call column).
  var MEDIA_S = 8;
  function mediaPath() {
    var id = "mediapath.roundtrip", label = T["chk.mediapath"];
    show(id, "pending", label, T["chk.pending"]);
    // never a contradiction without a reason: without a working camera the path cannot be tried
    if (!stream) { record(id, label, "skipped", null, null, T["st.path_needs_media"], "H13"); return Promise.resolve(); }
    if (!window.RTCPeerConnection) { record(id, label, "error", null, null, T["st.path_unsupported"], "H1", "RTCPeerConnection"); return Promise.resolve(); }
    var pc = new RTCPeerConnection({iceServers: boot.ice_servers || []});
    var channel = pc.createDataChannel("mediapath");
    var result = new Promise(function (resolve) {
      channel.onmessage = function (ev) { try { resolve(JSON.parse(ev.data)); } catch (e) { resolve(null); } };
    });
    var opened = new Promise(function (resolve) { channel.onopen = resolve; });
    stream.getTracks().forEach(function (t) { pc.addTrack(t, stream); });
    return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
      .then(function () {
        return withTimeout(new Promise(function (r) {
          if (pc.iceGatheringState === "complete") return r();
          pc.addEventListener("icegatheringstatechange", function () { if (pc.iceGatheringState === "complete") r(); });
        }), 4000, "ice").catch(function () { /* send what we have */ });
      }).then(function () {
        return fetchT(boot.offer_url, {method: "POST", headers: {"Content-Type": "application/json", "X-Selftest-Token": boot.token},
          body: JSON.stringify({device_id: boot.device_id, meeting_id: boot.meeting_id, sdp: pc.localDescription.sdp,
            type: pc.localDescription.type, seconds: MEDIA_S})}, 15000);
      }).then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (answer) { return pc.setRemoteDescription({type: answer.type, sdp: answer.sdp}); })
      .then(function () { return withTimeout(opened, 12000, "connection"); })
      .then(function () { return sleep(MEDIA_S * 1000); })
      .then(function () { channel.send("done"); return withTimeout(result, 15000, "result"); })
      .then(function (m) {
        var status = mediaStatus(m), t = mediaText(m, status);
        record(id, label, status, status === "pass" || status === "warn", null, t[0], "H13", t[1]);
      }).catch(function (err) {
        record(id, label, "fail", false, null, T["st.path_failed"], "H13", String(err.message || err));
      }).then(function () { pc.close(); });
  }
  function mediaStatus(m) {
    if (!m) return "fail";
    return {good: "pass", degraded: "warn", poor: "fail", failed: "fail"}[m.verdict] || "fail";
  }
  // [main text, details]: plain words first; frame rate, levels and the peer's own words in the details
  function mediaText(m, status) {
    if (!m) return [T["st.path_no_connection"], ""];
    var findings = (m.findings || []).filter(function (f) { return f.status !== "pass"; });
    var names = findings.map(function (f) { return T["check." + f.id] || T["check." + String(f.id).split(".")[0]] || f.id; });
    var nums = findings.map(function (f) { return f.text ? (f.text[boot.lang] || f.text.sv) : f.id; });
    if (m.fps != null) nums.push(Math.round(m.fps) + " fps");
    if (m.audio_rms_dbfs != null) nums.push(Math.round(m.audio_rms_dbfs) + " dBFS");
    if (m.reason) nums.push(m.connected === false ? T["mediapath.not_connected"] + ": " + m.reason : m.reason);
    if (m.connected === false) return [T["st.path_no_connection"], nums.join("; ")];
    var head = status === "pass" || status === "warn" ? T.seen_heard : T.not_seen_heard;
    return [head + (names.length ? ": " + names.join(", ") : "") + ".", nums.join("; ")];
  }
  // The camera here and the media path to the room must not disagree without saying why (issue 15).
  function reconcile() {
    var cam = statusOf("camera.capture"), path = statusOf("mediapath.roundtrip");
    if (!cam || !path) return;
    var camOk = cam.status === "pass", pathOk = path.status === "pass" || path.status === "warn";
    if (camOk && !pathOk && path.status !== "skipped") explain(path, T["st.why_path"]);
    else if (!camOk && cam.status !== "error" && pathOk) explain(path, T["st.why_camera"]);
  }
  function statusOf(id) { for (var i = 0; i < checks.length; i++) if (checks[i].id === id) return checks[i]; return null; }
  function explain(c, why) {
    c.summary = (c.summary + " " + why).slice(0, 500); c.main = c.main + " " + why;
    var li = document.querySelector('[data-check="' + c.id + '"]'), p = document.createElement("span");
    p.className = "why"; p.textContent = " " + why; li.insertBefore(p, li.querySelector("details")); li.setAttribute("data-explained", "1");
  }

  // 3. round-trip time and throughput against the collector (bounded in bytes)
  function rtt() {
    var label = T["chk.rtt"], times = [], i = 0;
    show("network.rtt", "pending", label, T["chk.pending"]);
    function once() {
      var t0 = performance.now();
      return fetchT(boot.ping_url + "?n=" + Math.random(), {cache: "no-store"}, 5000).then(function (r) {
        return r.text().then(function () { times.push(performance.now() - t0); });
      });
    }
    function loop() { return i++ < 6 ? once().then(loop) : Promise.resolve(); }
    return loop().then(function () {
      times.shift(); times.sort(function (a, b) { return a - b; });   // the first one pays for the connection
      var med = times[Math.floor(times.length / 2)];
      var st = level(med, L.rtt_warn_ms, L.rtt_fail_ms, false);
      record("network.rtt", label, st, Math.round(med * 10) / 10, "ms", T["st.net_" + st], "H1", limitText(Math.round(med), "ms", L.rtt_warn_ms));
    }).catch(function (err) { record("network.rtt", label, "error", null, null, T["st.net_error"], "H1", String(err.message || err)); });
  }
  function download() {
    var label = T["chk.download"];
    show("network.download", "pending", label, T["chk.pending"]);
    var t0 = performance.now();
    return fetchT(boot.download_url + "?n=" + Math.random(), {cache: "no-store", headers: {"X-Selftest-Token": boot.token}}, 20000)
      .then(function (r) { return r.arrayBuffer(); }).then(function (b) {
        var kbps = b.byteLength * 8 / Math.max(1, performance.now() - t0);
        var st = level(kbps, L.down_warn_kbps, L.down_fail_kbps, true);
        record("network.download", label, st, Math.round(kbps), "kbps", T["st.net_" + st], "H1",
          limitText((kbps / 1000).toFixed(1), "Mbit/s", L.down_warn_kbps / 1000));
      }).catch(function (err) { record("network.download", label, "error", null, null, T["st.net_error"], "H1", String(err.message || err)); });
  }
  function upload() {
    var label = T["chk.upload"], data = new Uint8Array(boot.upload_bytes);
    if (window.crypto && crypto.getRandomValues) for (var o = 0; o < data.length; o += 65536) crypto.getRandomValues(data.subarray(o, Math.min(o + 65536, data.length)));
    show("network.upload", "pending", label, T["chk.pending"]);
    var t0 = performance.now();
    return fetchT(boot.upload_url, {method: "POST", body: data, headers: {"Content-Type": "application/octet-stream", "X-Selftest-Token": boot.token}}, 20000)
      .then(function (r) { return r.text(); }).then(function () {
        var kbps = data.length * 8 / Math.max(1, performance.now() - t0);
        var st = level(kbps, L.up_warn_kbps, L.up_fail_kbps, true);
        record("network.upload", label, st, Math.round(kbps), "kbps", T["st.net_" + st], "H1",
          limitText((kbps / 1000).toFixed(1), "Mbit/s", L.up_warn_kbps / 1000));
      }).catch(function (err) { record("network.upload", label, "error", null, null, T["st.net_error"], "H1", String(err.message || err)); });
  }

  // the H9 checklist: what only the member can tell, confirmed by hand and recorded with the result
  function checklist() {
    var boxes = document.querySelectorAll("input[data-confirm]");
    for (var i = 0; i < boxes.length; i++) {
      var b = boxes[i], text = b.parentNode.textContent.trim(), id = b.getAttribute("data-confirm");
      checks.push({id: id, status: b.checked ? "pass" : "warn", value: b.checked,
        unit: null, summary: (b.checked ? T["st.confirmed"] : T["st.not_confirmed"]) + ": " + text,
        rule: b.getAttribute("data-rule"), label: T["st.own_check"], main: T["st.unticked"] + ": " + text});
      if (!b.checked) show(id, "warn", T["st.own_check"], T["st.unticked"] + ": " + text, T["st.rule"] + " " + b.getAttribute("data-rule"));
    }
  }
  function keepLastFrame() {
    var video = $("preview");
    try {
      var c = document.createElement("canvas"); c.width = video.videoWidth; c.height = video.videoHeight;
      c.getContext("2d").drawImage(video, 0, 0); video.poster = c.toDataURL("image/jpeg", 0.7);
    } catch (e) { /* no frame: nothing to keep */ }
    video.srcObject = null;
  }

  function send() {
    checklist();
    var sent = checks.map(function (c) { return {id: c.id, status: c.status, value: c.value, unit: c.unit, summary: c.summary, rule: c.rule}; });
    var body = {started_at: startedAt, duration_s: Date.now() / 1000 - startedAt, checks: sent, user_agent: navigator.userAgent.slice(0, 400)};
    return fetchT(boot.result_url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)}, 10000)
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  }

  $("start").addEventListener("click", function () {
    var btn = $("start"); btn.disabled = true; checks = []; $("checks").textContent = "";
    // iPad Safari starts audio only inside the tap itself: make the AudioContext before any await
    var AC = window.AudioContext || window.webkitAudioContext;
    audioCtx = AC ? new AC() : null;
    $("status").textContent = T["st.running"]; startedAt = Date.now() / 1000;
    $("permission-help").hidden = true;
    cameraAndMic().then(mediaPath).then(function () { reconcile(); }).then(rtt).then(download).then(upload).then(send).then(function (res) {
      // every warning names its cause, an unticked checklist item included
      // (checks with the same cause are named together: "Kamera, Mikrofon: …")
      var causes = [], byText = {};
      checks.filter(function (c) { return c.status === "warn" || c.status === "fail" || c.status === "error"; })
        .forEach(function (c) {
          if (byText[c.main] === undefined) { byText[c.main] = causes.length; causes.push([[c.label], c.main]); }
          else if (causes[byText[c.main]][0].indexOf(c.label) < 0) causes[byText[c.main]][0].push(c.label);
        });
      causes = causes.map(function (x) { return x[0].join(", ") + ": " + x[1]; });
      $("status").textContent = T[res.overall === "pass" ? "st.done_pass" : res.overall === "warn" ? "st.done_warn" : "st.done_fail"] +
        (causes.length ? " " + T["st.causes"] + " " + causes.join(" · ") : "");
      $("status").setAttribute("data-overall", res.overall);
    }).catch(function () {
      $("status").textContent = T["st.send_failed"]; $("status").setAttribute("data-overall", "send_failed");
    }).then(function () {
      btn.disabled = false;
      // the camera and microphone are released as soon as the test is over
      if (stream) { keepLastFrame(); stream.getTracks().forEach(function (t) { t.stop(); }); }
    });
  });
})();
