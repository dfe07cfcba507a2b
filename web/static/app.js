// downwave dashboard: live updates, the report button, the filter box and
// the viewer's time zone. The pages read fine without it.
"use strict";

(function () {
  // An open page listens to /live (Server-Sent Events): the server tells
  // every page at once when the dashboard changed, and each page then asks
  // for itself again (answered from the server's render cache, or 304).
  // Where EventSource is missing, or the server has no room for another
  // stream, the page asks every POLL_MS instead (the server answers 304 when
  // nothing changed).
  var POLL_MS = 2000;
  // With a stream, a slow poll still runs in case a message was missed.
  var SAFETY_POLL_MS = 60000;
  // Pages do not all ask in the same millisecond after a change.
  var SPREAD_MS = 1000;
  var TZ_COOKIE = "dw_tz";

  // Times are drawn by the server in the zone this cookie names (minutes
  // east of UTC). Set it, and redraw at once if the page used another zone.
  function syncZone() {
    var offset = String(-new Date().getTimezoneOffset());
    var match = document.cookie.match(/(?:^|;\s*)dw_tz=(-?\d+)/);
    document.cookie = TZ_COOKIE + "=" + offset + "; path=/; max-age=31536000; SameSite=Lax";
    return (match ? match[1] : "0") !== offset;
  }

  // Live regions: elements with data-live and an id are swapped for their
  // new versions when the page changed.
  function startLive(refreshNow) {
    var main = document.getElementById("main");
    if (!main || !document.querySelector("[data-live]")) return;
    var etag = main.getAttribute("data-etag") || "";
    var busy = false;

    function poll() {
      if (busy || document.hidden) return;
      busy = true;
      var headers = {};
      if (etag) headers["If-None-Match"] = etag;
      fetch(location.href, { headers: headers, cache: "no-store", credentials: "same-origin" })
        .then(function (res) {
          if (res.status !== 200) return null;
          etag = res.headers.get("ETag") || "";
          return res.text();
        })
        .then(function (html) {
          if (html) apply(html);
        })
        .catch(function () { /* offline for a moment: try again next time */ })
        .then(function () { busy = false; });
    }

    function apply(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live][id]").forEach(function (old) {
        var fresh = doc.getElementById(old.id);
        if (fresh) old.replaceWith(document.importNode(fresh, true));
      });
      var zone = doc.getElementById("zone");
      var ourZone = document.getElementById("zone");
      if (zone && ourZone) ourZone.textContent = zone.textContent;
      if (doc.title) document.title = doc.title;
      applyFilter();
    }

    var timer = null;
    function pollEvery(ms) {
      if (timer) clearInterval(timer);
      timer = setInterval(poll, ms);
    }

    function listen() {
      if (!window.EventSource) return false;
      var stream = new EventSource("/live");
      stream.onopen = function () { document.documentElement.setAttribute("data-live", "stream"); };
      stream.addEventListener("change", function () {
        setTimeout(poll, Math.random() * SPREAD_MS);
      });
      stream.onerror = function () {
        // CLOSED: refused (503, too many viewers) or gone for good; the
        // browser reconnects by itself from every other error.
        if (stream.readyState === EventSource.CLOSED) {
          document.documentElement.setAttribute("data-live", "poll");
          pollEvery(POLL_MS);
        }
      };
      return true;
    }

    pollEvery(listen() ? SAFETY_POLL_MS : POLL_MS);
    document.addEventListener("visibilitychange", poll);
    if (refreshNow) { etag = ""; poll(); }
  }

  // The filter box narrows the list as you type (it also works as a plain
  // form without JavaScript).
  function applyFilter() {
    var input = document.getElementById("filter");
    var list = document.getElementById("service-list");
    if (!input || !list) return;
    var needle = input.value.trim().toLowerCase();
    list.querySelectorAll("li.service").forEach(function (li) {
      var name = (li.getAttribute("data-name") || "").toLowerCase();
      li.hidden = needle !== "" && name.indexOf(needle) === -1;
    });
  }

  function startFilter() {
    var input = document.getElementById("filter");
    if (input) input.addEventListener("input", applyFilter);
  }

  // An anonymous token, so people behind one address count separately.
  function clientToken() {
    try {
      var t = localStorage.getItem("dw_client");
      if (!t) {
        var bytes = new Uint8Array(16);
        crypto.getRandomValues(bytes);
        t = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
        localStorage.setItem("dw_client", t);
      }
      return t;
    } catch (e) {
      return null;
    }
  }

  function startReportForm() {
    var form = document.getElementById("report-form");
    if (!form) return;
    var out = document.getElementById("report-result");
    var button = document.getElementById("report-button");
    var name = form.getAttribute("data-name");
    var dedupMinutes = form.getAttribute("data-dedup-minutes");

    // The form is inert until now: no action to post to, the button off,
    // and a sentence that says why. Both go once the script is here.
    var needsScript = document.getElementById("report-needs-script");
    if (needsScript) needsScript.hidden = true;
    button.disabled = false;

    function say(kind, text) {
      out.className = "report-result " + kind;
      out.textContent = text;
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new FormData(form);
      var body = { service: form.getAttribute("data-service"), category: data.get("category") };
      var code = String(data.get("error_code") || "").trim();
      if (code !== "") body.error_code = Number(code);
      var comment = String(data.get("comment") || "").trim();
      if (comment !== "") body.comment = comment;
      var headers = { "Content-Type": "application/json" };
      var token = clientToken();
      if (token) headers["X-Downwave-Client"] = token;
      button.disabled = true;
      say("", "Sending…");
      fetch("/api/v1/reports", { method: "POST", headers: headers, body: JSON.stringify(body), credentials: "same-origin" })
        .then(function (res) {
          return res.json().catch(function () { return {}; }).then(function (json) {
            return { res: res, json: json };
          });
        })
        .then(function (r) {
          var retry = r.res.headers.get("Retry-After");
          if (r.res.status === 202) {
            say("ok", "Thank you: your report is counted. It shows in the chart when this minute ends.");
          } else if (r.res.status === 200 && r.json.reason === "duplicate") {
            say("warn", "Thank you, we already have your report about " + name + " from the last " + dedupMinutes +
              " minutes. Each person counts once, so this one was not added.");
          } else if (r.res.status === 200 && r.json.reason === "address_limit") {
            say("warn", "Thank you. Several reports about " + name + " have already come from your network in the last " +
              dedupMinutes + " minutes, so this one was kept but not added to the count.");
          } else if (r.res.status === 429) {
            say("warn", "You have sent several reports in a short time. Please wait " + (retry || "a few") +
              " seconds and try again.");
          } else if (r.res.status === 503) {
            say("error", "downwave is too busy to take your report right now. Please try again in " +
              (retry || "a few") + " seconds.");
          } else {
            var msg = r.json && r.json.error && r.json.error.message;
            say("error", "Your report was not accepted: " + (msg || ("the server answered " + r.res.status)) + ".");
          }
        })
        .catch(function () {
          say("error", "Your report could not be sent. Check your connection and try again.");
        })
        .then(function () { button.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var zoneChanged = syncZone();
    startFilter();
    applyFilter();
    startReportForm();
    startLive(zoneChanged);
    // Says the script ran (the browser tests read it).
    document.documentElement.setAttribute("data-script", "ready");
  });
})();
