// The unified week's live updates: listen to /week/events (Server-Sent Events) and, when a sync
// brings a change, fetch /week/grid for the week shown and swap it in, keeping the scroll position.
// Without this script the page still works: its Refresh link reloads it.
(function () {
  "use strict";
  var grid = document.getElementById("week-grid");
  var note = document.getElementById("week-live");
  if (!grid || !note || !window.EventSource || !window.fetch) {
    return;
  }
  var busy = false;
  var again = false;
  var againLoud = false;
  var last = null; // the last fragment fetched, to tell a real change from a catch-up

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function clock() {
    var now = new Date();
    return two(now.getHours()) + ":" + two(now.getMinutes());
  }

  function say(text) {
    note.textContent = text;
  }

  // Fetch the week shown and swap it in when it differs. ``loud``: a sync announced a change, so
  // say "Updated"; otherwise (catching up after a reconnect) only say so when something changed.
  function refresh(loud) {
    if (busy) {
      again = true;
      againLoud = againLoud || loud;
      return;
    }
    busy = true;
    var url = "/week/grid?start=" + encodeURIComponent(grid.getAttribute("data-start") || "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var changed = html !== last;
        var first = last === null;
        last = html;
        if (!changed) {
          if (loud) {
            say("Updated " + clock());
          }
          return;
        }
        var x = window.scrollX;
        var y = window.scrollY;
        var inner = grid.querySelector(".wk-scroll");
        var left = inner ? inner.scrollLeft : 0;
        grid.innerHTML = html;
        var after = grid.querySelector(".wk-scroll");
        if (after) {
          after.scrollLeft = left;
        }
        window.scrollTo(x, y);
        if (loud || !first) {
          say("Updated " + clock());
        }
      })
      .catch(function () {
        say("Could not update the week; use Refresh.");
      })
      .then(function () {
        busy = false;
        if (again) {
          var wasLoud = againLoud;
          again = false;
          againLoud = false;
          refresh(wasLoud);
        }
      });
  }

  var source = new EventSource("/week/events");
  source.onopen = function () {
    grid.setAttribute("data-live", "on");
    refresh(false); // catch up on anything between the page (or the last stream) and this stream
  };
  source.onmessage = function () {
    refresh(true);
  };
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) {
      grid.setAttribute("data-live", "off");
      say("Live updates stopped; use Refresh.");
    }
  };
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
