// Recording in the browser: the notice is shown in the chosen language, and nothing is
// recorded until the other party's agreement is ticked. The recording is uploaded with
// consent "verbal"; a refusal records nothing.
(function () {
  "use strict";
  var lang = document.getElementById("notice-lang");
  var agreed = document.getElementById("agreed");
  var recordButton = document.getElementById("record");
  var stopButton = document.getElementById("stop");
  var refused = document.getElementById("refused");
  var status = document.getElementById("status");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var recorder = null, chunks = [], stream = null, startedAt = null;

  function say(text) { status.textContent = text; }

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
    if (recorder) { recorder.ondataavailable = null; recorder.onstop = null; recorder.stop(); }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    recorder = null; chunks = []; stream = null;
    agreed.checked = false;
    recordButton.disabled = true; stopButton.disabled = true;
    say("Nothing was recorded: the other party did not agree.");
  });
  recordButton.addEventListener("click", function () {
    if (!agreed.checked) { return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      say("This browser cannot record audio."); return;
    }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
      stream = s; chunks = [];
      recorder = new MediaRecorder(s);
      recorder.ondataavailable = function (e) { if (e.data.size) { chunks.push(e.data); } };
      recorder.onstop = upload;
      recorder.start();
      startedAt = new Date().toISOString();
      recordButton.disabled = true; stopButton.disabled = false;
      say("Recording…");
    }).catch(function () { say("The microphone could not be opened."); });
  });
  stopButton.addEventListener("click", function () {
    if (recorder) { recorder.stop(); }
    stopButton.disabled = true;
  });

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
    say("Uploading…");
    fetch("/api/v1/calls", {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.content : "" }
    }).then(function (r) {
      return r.json().then(function (d) { return { ok: r.ok, data: d }; });
    }).then(function (res) {
      if (res.ok && res.data.call_id) {
        window.location.href = "/calls/" + res.data.call_id;
      } else {
        say("The upload failed: " + ((res.data.error || {}).message || "unknown error"));
        agreed.checked = false; recordButton.disabled = true;
      }
    }).catch(function () { say("The upload failed; check the connection."); });
  }
})();
