/* Counter console: print status without a full reload, one submit per click, Esc closes.
   Everything works without this script (the page then offers a refresh link). */
(function () {
  "use strict";
  function poll() {
    var rows = document.querySelectorAll("[data-poll]");
    rows.forEach(function (row) {
      fetch(row.getAttribute("data-poll"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var t = document.createElement("template");
          t.innerHTML = html.trim();
          var fresh = t.content.firstElementChild;
          if (fresh && fresh.outerHTML !== row.outerHTML) { row.replaceWith(fresh); }
        })
        .catch(function () {});
    });
    if (rows.length) { window.setTimeout(poll, 1500); }
  }
  document.addEventListener("submit", function (e) {
    var buttons = e.target.querySelectorAll("[data-once]");
    // after the browser has taken the button's name and value into the submission
    window.setTimeout(function () { buttons.forEach(function (b) { b.disabled = true; }); }, 0);
  });
  window.addEventListener("pageshow", function () {  // back button: usable again
    document.querySelectorAll("[data-once]").forEach(function (b) { b.disabled = false; });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") { return; }
    var open = document.activeElement && document.activeElement.closest("details[open]");
    if (open) { open.open = false; open.querySelector("summary").focus(); }
  });
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, 1000); });
})();
