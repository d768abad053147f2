// The live page (issue 20): follows /api/v1/live/stream (Server-Sent Events) and draws
// each call in progress with a rolling transcript per leg (final words; the current
// partial greyed) and its alerts, with an Acknowledge button posting to the API with
// the session's CSRF token. EventSource reconnects by itself after a drop and sends
// Last-Event-ID, so the server resumes after the last event this page drew. Text is put
// into the page with textContent only: words never become markup.
(function () {
  "use strict";
  var root = document.getElementById("live-calls");
  if (!root) return;
  var status = document.getElementById("live-status");
  var empty = document.getElementById("live-empty");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var canAck = root.dataset.canAck === "yes";
  var KEEP_FINALS = 200; // lines of final words kept per leg
  var calls = {}; // live id -> {el, legs: {channel -> {el, finals, partial}}, alerts: {id -> el}, roles}

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function mmss(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var m = Math.floor(seconds / 60);
    var s = (seconds % 60).toFixed(1);
    return m + ":" + (s.length < 4 ? "0" + s : s);
  }

  function refreshEmpty() {
    empty.hidden = Object.keys(calls).length > 0;
  }

  function callOf(liveId, info) {
    var call = calls[liveId];
    if (call) {
      if (info) describe(call, info);
      return call;
    }
    var box = el("section", "live-call");
    box.id = "live-" + liveId;
    box.dataset.liveId = liveId;
    var title = el("h2", null, "Call");
    var facts = el("p", "hint");
    var legs = el("div", "live-legs");
    var alertsTitle = el("h3", null, "Alerts");
    var alerts = el("ul", "live-alerts");
    alerts.setAttribute("aria-live", "polite");
    box.append(title, facts, legs, alertsTitle, alerts);
    root.append(box);
    call = { el: box, title: title, facts: facts, legsEl: legs, alertsEl: alerts,
             legs: {}, alerts: {}, roles: {} };
    calls[liveId] = call;
    if (info) describe(call, info);
    refreshEmpty();
    return call;
  }

  function describe(call, info) {
    call.roles = info.roles || {};
    call.title.textContent = info.label || info.source || "Call";
    var parts = [];
    if (info.agent) parts.push("agent " + info.agent);
    if (info.team) parts.push("team " + info.team);
    if (info.started_at) parts.push("since " + new Date(info.started_at).toLocaleTimeString());
    call.facts.textContent = parts.join(" · ");
  }

  function legOf(call, channel, speaker) {
    var key = channel === null || channel === undefined ? "-" : String(channel);
    var leg = call.legs[key];
    if (leg) return leg;
    var box = el("div", "live-leg live-lane-" + (key === "1" ? "1" : "0"));
    var name = call.roles[key] || speaker || (key === "-" ? "call" : "channel " + key);
    box.append(el("h3", null, name));
    var partial = el("p", "live-partial");
    box.append(partial);
    call.legsEl.append(box);
    leg = { el: box, partial: partial, finals: 0 };
    call.legs[key] = leg;
    return leg;
  }

  function words(call, data) {
    var leg = legOf(call, data.channel, data.speaker);
    if (data.kind === "final") {
      if (data.text) {
        var line = el("p", "live-final", data.text);
        leg.el.insertBefore(line, leg.partial);
        leg.finals += 1;
        if (leg.finals > KEEP_FINALS) {
          leg.el.removeChild(leg.el.querySelector(".live-final"));
          leg.finals -= 1;
        }
      }
      // The partial the final words came from is spent; the next partial replaces it.
      leg.partial.textContent = "";
    } else {
      leg.partial.textContent = data.text || "";
    }
    leg.el.scrollTop = leg.el.scrollHeight;
  }

  function acknowledge(alertId, button) {
    button.disabled = true;
    fetch(root.dataset.ack + encodeURIComponent(alertId) + "/ack", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf ? csrf.content : "" }
    }).then(function (answer) {
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      return answer.json();
    }).then(function (alert) {
      drawAlert(alert);
    }).catch(function (error) {
      button.disabled = false;
      status.textContent = "Could not acknowledge the alert (" + error.message + ").";
    });
  }

  function drawAlert(alert) {
    var call = callOf(alert.live_id);
    var item = call.alerts[alert.id];
    if (!item) {
      item = el("li", "live-alert");
      item.id = "alert-" + alert.id;
      item.dataset.alertId = alert.id;
      call.alerts[alert.id] = item;
      call.alertsEl.prepend(item);
    }
    item.textContent = "";
    item.classList.toggle("acknowledged", !!alert.acknowledged_by);
    item.append(
      el("span", "rule", alert.rule),
      el("span", "severity", alert.severity),
      el("span", "time", "at " + mmss(alert.call_time)),
      el("span", "confidence", "confidence " + Math.round(alert.confidence * 100) + "%"),
      el("q", "said", alert.text)
    );
    if (alert.acknowledged_by) {
      item.append(el("span", "ack", "acknowledged by " + alert.acknowledged_by));
    } else if (canAck) {
      var button = el("button", null, "Acknowledge");
      button.type = "button";
      button.addEventListener("click", function () { acknowledge(alert.id, button); });
      item.append(button);
    }
  }

  function handle(data) {
    if (data.kind === "close") {
      var gone = calls[data.live_id];
      if (gone) {
        gone.el.remove();
        delete calls[data.live_id];
        refreshEmpty();
      }
      return;
    }
    var call = callOf(data.live_id, data.call);
    if (data.kind === "partial" || data.kind === "final") {
      words(call, data);
    } else if ((data.kind === "alert" || data.kind === "ack") && data.alert) {
      drawAlert(data.alert);
    }
  }

  refreshEmpty();
  var source = new EventSource(root.dataset.stream, { withCredentials: true });
  source.onopen = function () { status.textContent = "Live: updates arrive as they happen."; };
  source.onerror = function () {
    status.textContent = source.readyState === EventSource.CLOSED
      ? "Disconnected (signed out?); reload the page."
      : "Connection lost; reconnecting…";
  };
  source.onmessage = function (message) {
    try {
      handle(JSON.parse(message.data));
    } catch (error) {
      status.textContent = "An update could not be shown (" + error.message + ").";
    }
  };
})();
