// ZipBob web console: upload checks and progress, live photo status. No inline code (CSP).
"use strict";

(function () {
  var SIGNATURES = [
    { type: "JPEG", test: function (b) { return b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff; } },
    { type: "PNG", test: function (b) { return b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47; } },
    { type: "WebP", test: function (b) {
      return b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
        b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50;
    } }
  ];

  function mib(bytes) { return Math.round(bytes / 1048576); }

  // The file's first bytes decide, as on the server: a name or a type can lie.
  function checkFile(file, maxBytes) {
    if (file.size > maxBytes) {
      return Promise.resolve("The photo is too large: at most " + mib(maxBytes) + " MiB.");
    }
    if (file.size === 0) { return Promise.resolve("The file is empty."); }
    return file.slice(0, 12).arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      var known = SIGNATURES.some(function (s) { return s.test(bytes); });
      return known ? "" : "This file is not a JPEG, PNG or WebP photo.";
    });
  }

  function showError(element, message) {
    if (!element) { return; }
    element.textContent = message;
    element.hidden = !message;
  }

  function setupUpload(form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector("[data-dropzone]");
    var fileError = form.querySelector("#image-error");
    var formError = document.getElementById("form-error");
    var progressBox = form.querySelector(".progress");
    var progress = form.querySelector("progress");
    var submit = form.querySelector("button[type=submit]");
    var maxBytes = Number(input.getAttribute("data-max-bytes"));
    var verdict = Promise.resolve("");

    function validate() {
      showError(fileError, "");
      input.removeAttribute("aria-invalid");
      var file = input.files && input.files[0];
      verdict = file ? checkFile(file, maxBytes) : Promise.resolve("");
      return verdict.then(function (message) {
        showError(fileError, message);
        if (message) { input.setAttribute("aria-invalid", "true"); }
        return message;
      });
    }

    input.addEventListener("change", validate);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        validate();
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      validate().then(function (message) {
        if (message) { input.focus(); return; }
        send();
      });
    });

    function fieldErrors(fields) {
      form.querySelectorAll(".field-error.from-server").forEach(function (p) { p.remove(); });
      Object.keys(fields || {}).forEach(function (name) {
        var control = form.querySelector("[name='" + name + "']");
        if (!control) { return; }
        var p = document.createElement("p");
        p.className = "field-error from-server";
        p.id = name + "-error";
        p.textContent = fields[name];
        control.setAttribute("aria-invalid", "true");
        control.setAttribute("aria-describedby", p.id);
        control.insertAdjacentElement("afterend", p);
      });
    }

    function send() {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          progress.value = Math.round((event.loaded / event.total) * 100);
        }
      });
      xhr.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
        if (xhr.status < 400 && body.redirect) {
          window.location.assign(body.redirect);
          return;
        }
        if (xhr.status < 400 && xhr.responseURL && xhr.responseURL.indexOf("/auth/login") !== -1) {
          window.location.assign(xhr.responseURL);  // the session ended: log in again
          return;
        }
        done();
        // Our errors carry "error"; the gateway's own (e.g. 413 past its limit) are problem+json.
        var message = body.error || body.detail || ("The upload failed (" + xhr.status + ").");
        if (xhr.status === 413 || xhr.status === 415) { showError(fileError, message); }
        showError(formError, message);
        fieldErrors(body.fields);
        if (formError) { formError.focus(); }
      });
      xhr.addEventListener("error", function () {
        done();
        showError(formError, "The upload did not get through; check the connection and try again.");
      });
      progress.value = 0;
      progressBox.hidden = false;
      submit.disabled = true;
      showError(formError, "");
      xhr.send(new FormData(form));
    }

    function done() {
      progressBox.hidden = true;
      submit.disabled = false;
    }
  }

  // While a photo is being prepared, fetch the photo list again until none is pending.
  function setupPoll(box) {
    var url = box.getAttribute("data-poll");
    var interval = Number(box.getAttribute("data-interval")) || 1000;
    function pending() { return box.querySelector("[data-status=pending]") !== null; }
    function tick() {
      if (!pending()) { return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected) {  // the session ended: go where the server sends us
            window.location.assign(response.url);
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null && html.trim() !== box.innerHTML.trim()) { box.innerHTML = html; }
        })
        .catch(function () { /* try again on the next tick */ })
        .then(function () { window.setTimeout(tick, interval); });
    }
    window.setTimeout(tick, interval);
  }

  document.querySelectorAll("form[data-upload]").forEach(setupUpload);
  document.querySelectorAll("[data-poll]").forEach(setupPoll);
  if (document.getElementById("form-error")) {
    document.getElementById("form-error").setAttribute("tabindex", "-1");
  }
})();
