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
      fetch(url, { method: "POST", body: estimateBody(form), credentials: "same-origin" })
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

  // The estimate gets the form's fields and only the names and sizes of chosen files: the
  // bytes go once, through the upload endpoints, when the form is sent.
  function estimateBody(form) {
    var body = new FormData();
    new FormData(form).forEach(function (value, key) {
      if (value instanceof File) {
        if (value.name) {
          body.append("input_name", value.webkitRelativePath || value.name);
          body.append("input_size", String(value.size));
        }
      } else {
        body.append(key, value);
      }
    });
    return body;
  }

  // Input files through the JSON API (POST /uploads, then PUT each file), with a progress
  // bar and the sha256 computed here (SubtleCrypto) so the gateway can tell a damaged
  // transfer; then the form is sent with the upload id only. Without this script the files
  // go with the form itself (multipart), which the server handles the same way.
  var SHA_MAX_BYTES = 1024 * 1024 * 1024; // SubtleCrypto reads a file whole: skip huge ones

  function chosenFiles(form) {
    var files = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (file) { files.push(file); });
    });
    return files;
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function sha256(file) {
    if (!(window.crypto && window.crypto.subtle) || file.size > SHA_MAX_BYTES) { return Promise.resolve(null); }
    return file.arrayBuffer().then(function (data) { return window.crypto.subtle.digest("SHA-256", data); }).then(hex);
  }

  function filePath(file) {
    return (file.webkitRelativePath || file.name).split("/").map(encodeURIComponent).join("/");
  }

  function problemText(xhr) {
    try {
      var problem = JSON.parse(xhr.responseText);
      return problem.detail || problem.title || String(xhr.status);
    } catch (e) { return String(xhr.status); }
  }

  function uploads(form) {
    var base = form.getAttribute("data-uploads");
    var box = document.getElementById("upload-box");
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var idField = form.querySelector("input[name=upload_id]");
    var csrf = form.querySelector("input[name=csrf_token]").value;
    var sending = false;

    var dirPicker = form.querySelector("[data-directory-picker]");
    if (dirPicker && !("webkitdirectory" in document.createElement("input"))) { dirPicker.hidden = true; }

    function say(text) { status.textContent = text; }

    function createUpload() {
      if (idField.value) { return Promise.resolve(idField.value); }
      return fetch(base, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
        .then(function (r) { return r.ok ? r.json() : r.json().then(function (p) { return Promise.reject(p.detail || r.status); }); })
        .then(function (created) { return String(created.id); });
    }

    function put(uploadId, file, checksum, onProgress) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        xhr.open("PUT", base + "/" + uploadId + "/files/" + filePath(file));
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        if (checksum) { xhr.setRequestHeader("X-Content-SHA256", checksum); }
        xhr.upload.onprogress = function (event) { if (event.lengthComputable) { onProgress(event.loaded); } };
        xhr.onload = function () { return xhr.status === 201 ? resolve() : reject((file.webkitRelativePath || file.name) + ": " + problemText(xhr)); };
        xhr.onerror = function () { reject((file.webkitRelativePath || file.name) + ": network error"); };
        xhr.send(file);
      });
    }

    form.addEventListener("submit", function (event) {
      var files = chosenFiles(form);
      if (sending || !files.length) { return; }
      event.preventDefault();
      var submitter = event.submitter || null;
      var total = files.reduce(function (sum, f) { return sum + f.size; }, 0) || 1;
      var done = 0;
      sending = true;
      box.hidden = false;
      bar.value = 0;
      say(status.getAttribute("data-checking"));
      createUpload().then(function (uploadId) {
        idField.value = uploadId;
        return files.reduce(function (chain, file) {
          return chain.then(function () { return sha256(file); }).then(function (checksum) {
            var before = done;
            return put(uploadId, file, checksum, function (loaded) {
              bar.value = Math.round(100 * (before + loaded) / total);
              say(status.getAttribute("data-sending").replace("{done}", String(before + loaded)).replace("{total}", String(total)));
            }).then(function () { done = before + file.size; bar.value = Math.round(100 * done / total); });
          });
        }, Promise.resolve());
      }).then(function () {
        // The bytes are on the gateway: the form goes with the upload id, not the files again.
        form.querySelectorAll("input[type=file]").forEach(function (input) { input.value = ""; });
        bar.value = 100;
        if (submitter && form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); }
      }).catch(function (problem) {
        sending = false;
        say(status.getAttribute("data-failed") + " " + problem);
      });
    });
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

  // Choosing a cluster or a template (select[data-switch]) redraws the form at once: the form
  // is posted as the "Show its parameters" button posts it without this script
  // (action=refresh: nothing is sent to Slurm) and the page's regions marked data-region are
  // swapped for the server's, so the new template's fields and defaults, the cluster's
  // partitions and accounts, come from one place. Then the estimate is asked again.
  function formSwitch(form) {
    form.querySelectorAll("[data-without-js]").forEach(function (el) { el.hidden = true; });
    var asked = 0;
    function redraw() {
      var body = estimateBody(form);
      body.set("action", "refresh");
      var ticket = ++asked;
      form.setAttribute("aria-busy", "true");
      fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (ticket !== asked) { return; } // a later choice is on its way
          var doc = new DOMParser().parseFromString(html, "text/html");
          form.querySelectorAll("[data-region][id]").forEach(function (region) {
            var fresh = doc.getElementById(region.id);
            if (!fresh) { return; }
            // Sections the researcher opened stay open.
            region.querySelectorAll("details[open][id]").forEach(function (d) {
              var twin = fresh.querySelector("details[id='" + d.id + "']");
              if (twin) { twin.open = true; }
            });
            region.replaceWith(document.importNode(fresh, true));
          });
          ["shown_cluster", "shown_template"].forEach(function (name) {
            var mine = form.querySelector("input[name=" + name + "]");
            var theirs = doc.querySelector("input[name=" + name + "]");
            if (mine && theirs) { mine.value = theirs.value; }
          });
          form.dispatchEvent(new Event("change")); // the live estimate asks again
        })
        .catch(function () {})
        .then(function () { if (ticket === asked) { form.removeAttribute("aria-busy"); } });
    }
    form.querySelectorAll("select[data-switch]").forEach(function (select) {
      select.addEventListener("change", redraw);
    });
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

  // Dismiss on the dashboard: the same form the page posts without JavaScript, sent in the
  // background; the notice goes at once, then the section is read again (a notice left out
  // may now show). The live refresh may replace the region, so the listener sits on the
  // document. A failed post falls back to the plain form.
  function dismissNotices(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("dismiss")) { return; }
    event.preventDefault();
    var section = form.closest("section[id]");
    var notice = document.getElementById(form.getAttribute("data-dismiss") || "");
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (notice) { notice.remove(); }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(section.id);
        if (fresh) { section.replaceWith(document.importNode(fresh, true)); }
      })
      .catch(function () { form.submit(); });
  }

  // The header's lists (Menu, Admin, the account) are <details> that open without JavaScript;
  // with it, a click elsewhere or Escape closes the open one, as people expect of a menu.
  function headerLists() {
    function closeAll(except) {
      document.querySelectorAll("header.top details[open]").forEach(function (d) {
        if (d !== except) { d.removeAttribute("open"); }
      });
    }
    document.addEventListener("click", function (event) {
      closeAll(event.target.closest ? event.target.closest("header.top details") : null);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { closeAll(null); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    headerLists();
    document.addEventListener("submit", dismissNotices);
    document.querySelectorAll("[data-refresh][id]").forEach(liveRefresh);
    document.querySelectorAll("form[data-estimate-url]").forEach(liveEstimate);
    document.querySelectorAll("form[data-modes]").forEach(modeSwitch);
    document.querySelectorAll("form[data-estimate-url]").forEach(formSwitch);
    document.querySelectorAll("form[data-uploads]").forEach(uploads);
    copyButtons();
  });
})();
