/* The portal's only script (no inline scripts: the CSP forbids them). Everything works
   without it except the automatic refresh of the dynamic code. */
(function () {
  "use strict";

  function format(text, value) { return text.replace("{n}", value); }

  // Submit a select's form when it changes (the language menu).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // A form submitted twice makes one application (the server checks); this only
  // spares the second request.
  document.querySelectorAll("button[data-once]").forEach(function (button) {
    button.form.addEventListener("submit", function () {
      setTimeout(function () { button.disabled = true; }, 0);
    });
  });

  // OTP screen: time left for the code; resend enabled when the cooldown ends.
  document.querySelectorAll("[data-countdown]").forEach(function (el) {
    var left = parseInt(el.getAttribute("data-countdown"), 10) || 0;
    function tick() {
      if (left <= 0) { el.textContent = el.getAttribute("data-countdown-done"); return; }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = format(el.getAttribute("data-countdown-text"), m + ":" + (s < 10 ? "0" : "") + s);
      left -= 1;
      setTimeout(tick, 1000);
    }
    tick();
  });
  document.querySelectorAll("[data-enable-after]").forEach(function (button) {
    var left = parseInt(button.getAttribute("data-enable-after"), 10) || 0;
    var label = button.textContent;
    function tick() {
      if (left <= 0) { button.disabled = false; button.textContent = label; return; }
      button.disabled = true;
      button.textContent = format(button.getAttribute("data-wait-text"), left);
      left -= 1;
      setTimeout(tick, 1000);
    }
    tick();
  });

  // Dynamic code: fetch a fresh one a few seconds before the shown one expires.
  document.querySelectorAll("[data-dynamic-code]").forEach(function (figure) {
    var url = figure.getAttribute("data-dynamic-code");
    var img = figure.querySelector("img");
    var label = figure.querySelector("[data-countdown-label]");
    var lifetime = parseInt(figure.getAttribute("data-lifetime"), 10) || 60;
    var margin = Math.min(10, Math.floor(lifetime / 4));
    var left = lifetime, previous = null, busy = false;
    function refresh() {
      busy = true;
      fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        left = parseInt(response.headers.get("X-Code-Expires-In"), 10) || lifetime;
        return response.blob();
      }).then(function (blob) {
        var src = URL.createObjectURL(blob);
        img.src = src;
        if (previous) { URL.revokeObjectURL(previous); }
        previous = src;
        figure.setAttribute("data-refreshed", String((parseInt(figure.getAttribute("data-refreshed"), 10) || 0) + 1));
      }).catch(function () {
        left = margin + 5;  // try again shortly (offline, signed out ...)
      }).then(function () { busy = false; });
    }
    function tick() {
      left -= 1;
      if (left <= margin && !busy) { refresh(); }
      if (label) { label.textContent = format(label.getAttribute("data-text"), Math.max(0, left - margin)); }
    }
    setInterval(tick, 1000);
  });

  // The family member's own phone is asked only for a family member.
  document.querySelectorAll("form[data-derive-identity]").forEach(function (form) {
    var phone = form.querySelector("[name=phone]");
    if (!phone) { return; }
    var field = phone.closest(".field");
    function show() {
      var self = form.querySelector("[name=relation]:checked");
      field.hidden = !!self && self.value === "self";
    }
    form.querySelectorAll("[name=relation]").forEach(function (r) { r.addEventListener("change", show); });
    show();
  });

  // Resident identity card: sex and birth date come from the number, shown locked.
  document.querySelectorAll("form[data-derive-identity]").forEach(function (form) {
    var type = form.querySelector("[name=id_type]");
    var number = form.querySelector("[name=id_number]");
    var sex = form.querySelector("[name=sex]");
    var birth = form.querySelector("[name=birth_date]");
    if (!type || !number || !sex || !birth) { return; }
    function derive() {
      var locked = type.value === "01";
      sex.disabled = locked;
      birth.readOnly = locked;
      var n = number.value.replace(/\s+/g, "").toUpperCase();
      if (locked && /^[0-9]{17}[0-9X]$/.test(n)) {
        birth.value = n.slice(6, 10) + "-" + n.slice(10, 12) + "-" + n.slice(12, 14);
        sex.value = parseInt(n.charAt(16), 10) % 2 ? "1" : "2";
      }
    }
    type.addEventListener("change", derive);
    number.addEventListener("input", derive);
    derive();
  });
})();
