// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Live refresh: a region marked data-refresh="<seconds>" is re-read from the same URL and
  // swapped in place while the server keeps marking it (a running job); then it stops.
  function liveRefresh(region) {
    var seconds = parseInt(region.getAttribute("data-refresh"), 10) || 5;
    var timer = window.setTimeout(function tick() {
      fetch(window.location.href, { headers: { "X-Myriagate-Refresh": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById(region.id);
          if (!fresh) { return; }
          region.replaceWith(fresh);
          region = fresh;
          if (fresh.hasAttribute("data-refresh")) { timer = window.setTimeout(tick, seconds * 1000); }
        })
        .catch(function () { timer = window.setTimeout(tick, seconds * 3000); });
    }, seconds * 1000);
    return timer;
  }

  // Live cost estimate: the submit form is posted to its data-estimate-url as the user types;
  // the answer (an HTML fragment) replaces the estimate box, read out politely.
  function liveEstimate(form) {
    var target = document.getElementById("estimate");
    var url = form.getAttribute("data-estimate-url");
    var pending = null;
    function ask() {
      fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) { target.innerHTML = html; })
        .catch(function () {});
    }
    function later() {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(ask, 400);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  // Mode switch on the submit page: show the template fields or the script box.
  function modeSwitch(form) {
    function apply() {
      var checked = form.querySelector("input[name=mode]:checked");
      var mode = checked ? checked.value : "template";
      form.querySelectorAll("[data-mode]").forEach(function (el) {
        el.hidden = el.getAttribute("data-mode") !== mode;
      });
    }
    form.querySelectorAll("input[name=mode]").forEach(function (el) { el.addEventListener("change", apply); });
    apply();
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (source && navigator.clipboard) {
          navigator.clipboard.writeText(source.textContent.trim()).then(function () {
            button.textContent = button.getAttribute("data-copied") || "Copied";
          });
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh][id]").forEach(liveRefresh);
    document.querySelectorAll("form[data-estimate-url]").forEach(liveEstimate);
    document.querySelectorAll("form[data-modes]").forEach(modeSwitch);
    copyButtons();
  });
})();
