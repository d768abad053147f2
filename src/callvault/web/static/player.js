// The call player: the current word is highlighted while the audio plays, selecting a
// word (click, Enter or Space) plays from its start, and #t=SECONDS seeks there.
(function () {
  "use strict";
  var audio = document.getElementById("player");
  if (!audio) { return; }
  var words = Array.prototype.slice.call(document.querySelectorAll(".w[data-start]"));
  var starts = words.map(function (w) { return parseFloat(w.dataset.start); });
  var current = null;

  function seek(seconds) {
    if (!isFinite(seconds) || seconds < 0) { return; }
    if (audio.readyState >= 1) {
      audio.currentTime = seconds;
    } else {
      audio.addEventListener("loadedmetadata", function once() {
        audio.removeEventListener("loadedmetadata", once);
        audio.currentTime = seconds;
      });
      audio.load();
    }
    highlight(seconds);
  }

  function wordAt(t) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function highlight(t) {
    var i = wordAt(t + 0.01);
    var word = i >= 0 ? words[i] : null;
    if (word && t > parseFloat(word.dataset.end) + 1.0) { word = null; }
    if (word === current) { return; }
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    current = word;
    if (current) { current.classList.add("current"); current.setAttribute("aria-current", "true"); }
  }

  function fromHash() {
    var m = /^#t=([0-9]+(?:\.[0-9]+)?)$/.exec(window.location.hash);
    if (m) { seek(parseFloat(m[1])); }
  }

  words.forEach(function (w) {
    w.addEventListener("click", function () { seek(parseFloat(w.dataset.start)); });
    w.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        seek(parseFloat(w.dataset.start));
      }
    });
  });
  audio.addEventListener("timeupdate", function () { highlight(audio.currentTime); });
  audio.addEventListener("seeked", function () { highlight(audio.currentTime); });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
