// The booking page's time zone: shown in the candidate's own zone. Without a ?tz= in the address,
// reload once with the browser's zone (when the list knows it); changing the list shows the times
// in the chosen zone at once. Without this script the page still works: the list has a button.
(function () {
  "use strict";
  var form = document.getElementById("bk-zone-form");
  var select = document.getElementById("tz");
  if (!form || !select) {
    return;
  }
  var params = new URLSearchParams(window.location.search);
  if (!params.get("tz") && !select.getAttribute("data-chosen") && window.Intl && Intl.DateTimeFormat) {
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      zone = "";
    }
    var known = false;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) {
        known = true;
        break;
      }
    }
    if (known && zone !== select.getAttribute("data-current")) {
      params.set("tz", zone);
      window.location.replace(window.location.pathname + "?" + params.toString());
      return;
    }
  }
  select.addEventListener("change", function () {
    form.submit();
  });
  var button = document.getElementById("bk-zone-submit");
  if (button) {
    button.hidden = true;
  }
})();
