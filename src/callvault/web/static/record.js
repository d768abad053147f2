// Recording in the browser: the notice is shown in the chosen language, and nothing is
// recorded until the other party's agreement is ticked. The recording is uploaded with
// consent "verbal"; a refusal records nothing.
//
// While it records, the call is also monitored live (issue 20): the microphone's audio
// is tapped by an AudioWorklet (static/record-worklet.js), brought to 16 kHz int16 mono
// and sent to the server a quarter of a second at a time, numbered, one POST after the
// other, so that the call is transcribed and checked on the live board as it goes on.
// When the server answers that a party said they do not want to be recorded (stop_at),
// the recording stops at once and what was recorded before is uploaded: processing finds
// the same refusal and cuts or erases the recording at it, as the policy says. Live
// monitoring failing (no model, another server process, no connection) never stops the
// recording: a note says so and the recording goes on.
(function () {
  "use strict";
  var lang = document.getElementById("notice-lang");
  var agreed = document.getElementById("agreed");
  var recordButton = document.getElementById("record");
  var stopButton = document.getElementById("stop");
  var refused = document.getElementById("refused");
  var status = document.getElementById("status");
  var note = document.getElementById("live-note");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var recorder = null, chunks = [], stream = null, startedAt = null, live = null;
  var withdrawn = false;
  var REFUSED = "The other party asked not to be recorded: recording stopped.";

  function say(text) { status.textContent = text; }
  function liveNote(text) { note.textContent = text; note.hidden = !text; }

  // The form only groups the controls: Enter in it must not submit it (here, not in an
  // inline handler, which the Content-Security-Policy refuses).
  document.getElementById("recorder").addEventListener("submit", function (e) {
    e.preventDefault();
  });

  lang.addEventListener("change", function () {
    document.querySelectorAll(".notice").forEach(function (n) {
      n.hidden = n.dataset.lang !== lang.value;
    });
  });
  agreed.addEventListener("change", function () {
    recordButton.disabled = !agreed.checked || recorder !== null;
  });
  refused.addEventListener("click", function () {
    if (live) { live.end(true); live = null; }
    if (recorder) { recorder.ondataavailable = null; recorder.onstop = null; recorder.stop(); }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    recorder = null; chunks = []; stream = null;
    agreed.checked = false;
    recordButton.disabled = true; stopButton.disabled = true;
    liveNote("");
    say("Nothing was recorded: the other party did not agree.");
  });
  recordButton.addEventListener("click", function () {
    if (!agreed.checked) { return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      say("This browser cannot record audio."); return;
    }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
      stream = s; chunks = []; withdrawn = false;
      recorder = new MediaRecorder(s);
      recorder.ondataavailable = function (e) { if (e.data.size) { chunks.push(e.data); } };
      recorder.onstop = upload;
      recorder.start();
      startedAt = new Date().toISOString();
      recordButton.disabled = true; stopButton.disabled = false;
      say("Recording…");
      try {
        live = new LiveSession(s);
      } catch (e) {
        live = null;
        liveNote("Live monitoring is not available in this browser; the recording goes on.");
      }
    }).catch(function () { say("The microphone could not be opened."); });
  });
  stopButton.addEventListener("click", function () {
    if (live) { live.end(true); live = null; }
    if (recorder) { recorder.stop(); }
    stopButton.disabled = true;
  });

  // A spoken refusal, heard by the live monitor: stop keeping audio now.
  function stopForRefusal() {
    if (withdrawn) { return; }
    withdrawn = true;
    if (live) { live.end(true); live = null; }
    stopButton.disabled = true;
    say(REFUSED);
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  }

  function upload() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    var type = (recorder && recorder.mimeType) || "audio/webm";
    var blob = new Blob(chunks, { type: type });
    recorder = null; chunks = [];
    var body = new FormData();
    body.append("file", blob, type.indexOf("ogg") >= 0 ? "recording.ogg" : "recording.webm");
    body.append("consent", "verbal");
    if (startedAt) { body.append("started_at", startedAt); }
    body.append("language", lang.value.split("-")[0]);
    say(withdrawn ? REFUSED + " Uploading what was recorded before the refusal…" : "Uploading…");
    fetch("/api/v1/calls", {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.content : "" }
    }).then(function (r) {
      return r.json().then(function (d) { return { ok: r.ok, data: d }; });
    }).then(function (res) {
      if (res.ok && res.data.call_id && withdrawn) {
        // Stay on this page, so that the reason stays in view; processing cuts the
        // recording at the refusal (or erases it) as the policy says.
        say(REFUSED + " What was recorded before it is kept only as the recording policy allows.");
        var link = document.createElement("a");
        link.href = "/calls/" + res.data.call_id;
        link.id = "recorded-call";
        link.textContent = "Open the call";
        status.appendChild(document.createTextNode(" "));
        status.appendChild(link);
        agreed.checked = false; recordButton.disabled = true;
      } else if (res.ok && res.data.call_id) {
        window.location.href = "/calls/" + res.data.call_id;
      } else {
        say("The upload failed: " + ((res.data.error || {}).message || "unknown error"));
        agreed.checked = false; recordButton.disabled = true;
      }
    }).catch(function () { say("The upload failed; check the connection."); });
  }

  // -- live monitoring ---------------------------------------------------------------

  var RATE = 16000;        // what the server's engine takes
  var CHUNK = 4000;        // samples per POST: a quarter of a second
  var BACKLOG = 40;        // chunks held while the network lags (10 s); older ones go

  function post(url, bytes) {
    var headers = { "X-CSRF-Token": csrf ? csrf.content : "" };
    if (bytes) { headers["Content-Type"] = "application/octet-stream"; }
    return fetch(url, {
      method: "POST", body: bytes || null, credentials: "same-origin", headers: headers
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (d) {
        return { ok: r.ok, status: r.status, data: d };
      });
    });
  }

  function why(res) { return ((res.data || {}).error || {}).message || "error " + res.status; }

  function LiveSession(mediaStream) {
    var self = this;
    this.session = null; this.seq = 0; this.queue = []; this.sending = false;
    this.off = false; this.stopping = false; this.pauses = 0; this.retries = 0;
    this.pending = new Float32Array(0); this.at = 0;  // resampler state
    this.out = new Int16Array(CHUNK); this.fill = 0;
    var Context = window.AudioContext || window.webkitAudioContext;
    this.ctx = new Context();
    this.ratio = this.ctx.sampleRate / RATE;
    this.source = this.ctx.createMediaStreamSource(mediaStream);
    // The tap outputs nothing audible; it reaches the destination through a silent
    // gain so that the browser keeps pulling audio through it.
    this.mute = this.ctx.createGain();
    this.mute.gain.value = 0;
    this.mute.connect(this.ctx.destination);
    if (this.ctx.audioWorklet && window.AudioWorkletNode) {
      this.ctx.audioWorklet.addModule("/static/record-worklet.js").then(function () {
        if (self.off) { return; }
        self.node = new AudioWorkletNode(self.ctx, "callvault-live-tap");
        self.node.port.onmessage = function (e) { self.take(e.data); };
        self.source.connect(self.node);
        self.node.connect(self.mute);
      }).catch(function () { self.fail("the audio tap could not be loaded"); });
    } else {
      this.node = this.ctx.createScriptProcessor(4096, 1, 1);
      this.node.onaudioprocess = function (e) {
        self.take(e.inputBuffer.getChannelData(0).slice(0));
      };
      this.source.connect(this.node);
      this.node.connect(this.mute);
    }
    if (this.ctx.state === "suspended") { this.ctx.resume(); }
    post("/api/v1/live/browser").then(function (res) {
      if (self.off) {
        if (res.ok) { post("/api/v1/live/browser/" + res.data.session + "/stop"); }
        return;
      }
      if (!res.ok) { self.fail(why(res)); return; }
      self.session = res.data.session;
      say("Recording… (monitored live)");
      self.pump();
    }).catch(function () { self.fail("the server could not be reached"); });
  }

  // Microphone samples (float, the context's rate) in; 16 kHz int16 chunks out. Each
  // output sample is the mean of the input samples it covers (a box filter against
  // aliasing, enough for speech recognition).
  LiveSession.prototype.take = function (block) {
    if (this.off) { return; }
    var buf = new Float32Array(this.pending.length + block.length);
    buf.set(this.pending); buf.set(block, this.pending.length);
    var t = this.at, ratio = this.ratio;
    while (t + ratio <= buf.length) {
      var from = Math.floor(t), to = Math.max(from + 1, Math.floor(t + ratio)), sum = 0;
      for (var i = from; i < to; i++) { sum += buf[i]; }
      var v = Math.max(-1, Math.min(1, sum / (to - from)));
      this.out[this.fill++] = v < 0 ? v * 32768 : v * 32767;
      if (this.fill === CHUNK) { this.push(this.out); this.out = new Int16Array(CHUNK); this.fill = 0; }
      t += ratio;
    }
    var used = Math.floor(t);
    this.pending = buf.slice(used); this.at = t - used;
  };

  LiveSession.prototype.push = function (samples) {
    this.queue.push({ seq: this.seq++, data: samples });
    while (this.queue.length > BACKLOG) { this.queue.shift(); }  // the server fills the gap
    this.pump();
  };

  // One POST at a time, in order; each answer may say to stop (a spoken refusal).
  LiveSession.prototype.pump = function () {
    var self = this;
    if (this.sending || !this.session) { return; }
    if (!this.queue.length) {
      if (this.stopping) {
        this.stopping = false;
        post("/api/v1/live/browser/" + this.session + "/stop");
      }
      return;
    }
    var item = this.queue[0];
    this.sending = true;
    post("/api/v1/live/browser/" + this.session + "/audio?seq=" + item.seq,
         new Uint8Array(item.data.buffer, 0, item.data.length * 2)).then(function (res) {
      self.sending = false;
      if (!res.ok) { self.fail(why(res)); return; }
      self.queue.shift(); self.retries = 0;
      self.heard(res.data);
      self.pump();
    }).catch(function () {
      self.sending = false;
      if (++self.retries > 3) { self.fail("the connection to the server was lost"); return; }
      setTimeout(function () { self.pump(); }, 1000);  // the same chunk again
    });
  };

  LiveSession.prototype.heard = function (state) {
    if (state.stop_at !== null && state.stop_at !== undefined) {
      stopForRefusal();
      return;
    }
    if (state.paused && state.paused.length > this.pauses) {
      this.pauses = state.paused.length;
      liveNote("Card details may have been read out: they are redacted from the stored call.");
    }
  };

  // Stop monitoring: the audio tap closes; with `tell`, the chunks already made are
  // sent and then the server is told the session is over.
  LiveSession.prototype.end = function (tell) {
    if (this.off) { return; }
    this.off = true;
    if (this.fill && tell) { this.push(this.out.slice(0, this.fill)); this.fill = 0; }
    try { this.source.disconnect(); } catch (e) { /* already */ }
    if (this.node) { try { this.node.disconnect(); } catch (e) { /* already */ } }
    this.ctx.close();
    if (tell && this.session) { this.stopping = true; this.pump(); }
    else if (!tell) { this.queue = []; }
  };

  LiveSession.prototype.fail = function (reason) {
    if (this.off) { return; }
    this.end(false);
    if (live === this) { live = null; }
    liveNote("Live monitoring stopped (" + reason + "); the recording goes on.");
    if (recorder) { say("Recording…"); }
  };
})();
