// Uploads into the file browser's directory (issue #17). Files dropped onto the listing (or the
// upload box) or chosen with the picker are sent through the resumable upload API one after
// the other, each with its own progress bar: POST .../uploads begins one, PATCH sends its bytes
// from Upload-Offset, and when the connection drops, GET .../uploads/{id} says how far the
// cluster got and the rest is sent from there. Without this script the same form is a plain
// multipart post (web/pages/file_upload_pages.py). Names are shown as text, never as markup.
"use strict";
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.XMLHttpRequest) { return; }
  var list = document.getElementById("upload-list");
  var picker = document.getElementById("upload-files");
  var overwriteBox = form.querySelector("input[name=overwrite]");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var base = form.getAttribute("data-uploads");
  var here = form.getAttribute("data-path");
  var MAX_RESUMES = 8;
  var busy = false;

  function word(name) { return form.getAttribute("data-" + name) || ""; }
  function wait(ms) { return new Promise(function (resolve) { window.setTimeout(resolve, ms); }); }
  function parsed(text, status) {
    try { return JSON.parse(text); } catch (e) { return { detail: String(status) }; }
  }

  // A JSON call of the upload API with the page's session and its CSRF token. A refusal
  // rejects with its problem details; a network failure with {network: true}.
  function api(method, url, body) {
    var headers = { "X-CSRF-Token": csrf, "Accept": "application/json" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: method, credentials: "same-origin", headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) {
        var answer = parsed(text, r.status);
        if (!r.ok) { throw { problem: answer }; }
        return answer;
      });
    }, function () { throw { network: true }; });
  }

  function row(file) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    var said = document.createElement("span");
    said.className = "upload-said";
    said.textContent = word("sending");
    li.append(name, bar, said);
    list.appendChild(li);
    list.hidden = false;
    return { li: li, bar: bar, say: function (text) { said.textContent = text; } };
  }

  // The bytes from ``offset`` to the end in one PATCH, its progress on the file's bar.
  function patch(url, file, offset, shown) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PATCH", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) { shown.bar.value = offset + event.loaded; }
      };
      xhr.onload = function () {
        var answer = parsed(xhr.responseText, xhr.status);
        if (xhr.status >= 200 && xhr.status < 300) { resolve(answer); } else { reject({ problem: answer }); }
      };
      xhr.onerror = function () { reject({ network: true }); };
      xhr.send(file.slice(offset));
    });
  }

  function send(file, shown) {
    var target = here ? here + "/" + file.name : file.name;
    var begin = { path: target, size_bytes: file.size, overwrite: !!(overwriteBox && overwriteBox.checked) };
    return api("POST", base, begin).then(function (made) {
      var url = base + "/" + encodeURIComponent(made.id);
      var resumes = 0;
      function resume() {
        resumes += 1;
        if (resumes > MAX_RESUMES) { return Promise.reject({ network: true }); }
        shown.say(word("resuming"));
        return wait(Math.min(1000 * resumes, 5000)).then(function () { return api("GET", url); })
          .then(function (state) { shown.say(word("sending")); return from(state.offset); },
                function (failure) { if (failure.network) { return resume(); } throw failure; });
      }
      function from(offset) {
        return patch(url, file, offset, shown).then(function (answer) {
          return answer.complete ? answer : resume(); // a part cut short: go on from the cluster's offset
        }, function (failure) {
          var problem = failure.problem;
          if (problem && problem.code === "upload_offset_mismatch" && typeof problem.offset === "number" && resumes < MAX_RESUMES) {
            resumes += 1;
            return from(problem.offset);
          }
          // A dropped connection, or the cluster still finishing the part it cut short (409
          // conflict): ask where it stands and go on from there.
          if (failure.network || (problem && problem.code === "conflict")) { return resume(); }
          throw failure;
        });
      }
      return from(0);
    });
  }

  function start(files) {
    if (busy || !files.length) { return; }
    busy = true;
    var failed = 0;
    var sent = 0;
    var chain = Promise.resolve();
    Array.prototype.forEach.call(files, function (file) {
      var shown = row(file);
      chain = chain.then(function () {
        return send(file, shown).then(function () {
          sent += 1;
          shown.bar.value = shown.bar.max;
          shown.say(word("done"));
          shown.li.className = "upload-done";
        }, function (failure) {
          failed += 1;
          var problem = failure.problem || {};
          shown.say(word("failed") + " " + (problem.detail || problem.title || ""));
          shown.li.className = "upload-failed";
        });
      });
    });
    chain.then(function () {
      busy = false;
      if (picker) { picker.value = ""; }
      if (!failed) {
        var all = document.createElement("li");
        all.textContent = word("all-done");
        list.appendChild(all);
        window.setTimeout(function () { window.location.assign(form.getAttribute("data-reload")); }, 800);
      } else if (sent) {
        // Some were refused: their rows stay to be read, and the listing alone is read again so
        // that the files that did arrive show (a whole reload would take the refusals away).
        rereadListing();
      }
    });
  }

  function rereadListing() {
    fetch(form.getAttribute("data-reload"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("listing-box");
        var box = document.getElementById("listing-box");
        if (!fresh || !box) { return; }
        box.innerHTML = fresh.innerHTML; // the box keeps its drop listeners
        var note = document.createElement("li");
        note.textContent = word("some-done");
        list.appendChild(note);
      })
      .catch(function () {});
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    start(picker ? picker.files : []);
  });

  // Drag and drop: onto the listing or onto the upload box.
  [document.getElementById("listing-box"), form.closest("section")].forEach(function (zone) {
    if (!zone) { return; }
    zone.addEventListener("dragover", function (event) {
      if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
    zone.addEventListener("drop", function (event) {
      zone.classList.remove("dragging");
      if (!event.dataTransfer || !event.dataTransfer.files.length) { return; }
      event.preventDefault();
      start(event.dataTransfer.files);
    });
  });
})();
