// A process page: the execute form (one control per input, built by process.html from
// the input schemas) posts {"inputs": {...}} and shows the results, the job's status
// until it ends, or the problem detail of a refused request next to the form.
// A file of its own: the pages' Content-Security-Policy allows no inline script.
// Same-origin fetches: the browser sends the credentials it has for this server.
(function () {
  "use strict";
  var FINISHED = ["successful", "failed", "dismissed"];

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, key) {
      return key in values ? String(values[key]) : all;
    });
  }

  function fieldError(field, message) {
    var box = field.querySelector(".field-error");
    if (box) { box.textContent = message || ""; }
    field.classList.toggle("invalid", Boolean(message));
  }

  // The value of one field, or undefined for "not given" (the default applies).
  function valueOf(field, msg) {
    var kind = field.dataset.control;
    var control = field.querySelector("input, select, textarea");
    if (kind === "checkbox") { return control.checked; }
    if (kind === "multiselect") {
      var chosen = Array.prototype.map.call(control.selectedOptions, function (o) {
        return JSON.parse(o.value);
      });
      return chosen.length ? chosen : undefined;
    }
    var text = control.value.trim();
    if (text === "") { return undefined; }
    if (kind === "select") { return JSON.parse(text); }
    if (kind === "number") { return Number(text); }
    if (kind === "text") { return control.value; }
    if (kind === "text-or-json" && !/^[{[]/.test(text)) { return control.value; }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw { field: field, message: fill(msg.msgBadJson, { error: e.message }) };
    }
  }

  // The inputs of the form; false when a field is invalid (its message is shown).
  function collect(form) {
    var inputs = {};
    var ok = true;
    form.querySelectorAll(".field").forEach(function (field) {
      fieldError(field, "");
      var control = field.querySelector("input, select, textarea");
      if (!control.checkValidity()) {
        fieldError(field, control.validationMessage);
        ok = false;
        return;
      }
      try {
        var value = valueOf(field, form.dataset);
        if (value !== undefined) { inputs[field.dataset.input] = value; }
      } catch (err) {
        if (!err.field) { throw err; }
        fieldError(err.field, err.message);
        ok = false;
      }
    });
    return ok ? inputs : false;
  }

  function showProblem(form, status, body) {
    var box = document.getElementById("problem");
    box.textContent = "";
    var head = document.createElement("strong");
    head.textContent = (body && body.title) || fill(form.dataset.msgFailed, { status: status });
    box.appendChild(head);
    if (body && body.detail) {
      var detail = document.createElement("p");
      detail.textContent = body.detail;
      box.appendChild(detail);
    }
    var listed = (body && body.invalidInputs) || [];
    if (listed.length) {
      var list = document.createElement("ul");
      listed.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item.input + ": " + item.message;
        list.appendChild(li);
        var name = String(item.input).split(".")[0];
        form.querySelectorAll(".field").forEach(function (field) {
          if (field.dataset.input === name) { fieldError(field, item.message); }
        });
      });
      box.appendChild(list);
    }
    if (status === 401) {
      var hint = document.createElement("p");
      hint.textContent = form.dataset.msgAuth;
      box.appendChild(hint);
    }
    box.hidden = false;
  }

  function showResult(text) {
    var pre = document.getElementById("result");
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) { /* not JSON: shown as it came */ }
    pre.textContent = text.length > 50000 ? text.slice(0, 50000) + "\n…" : text;
    pre.hidden = false;
  }

  function showStatus(form, info, where) {
    var line = document.getElementById("job-status");
    line.textContent = fill(form.dataset.msgJob, { id: info.jobID, status: info.status }) +
      (typeof info.progress === "number" ? " (" + info.progress + "%)" : "") +
      (info.message ? " — " + info.message : "") + " ";
    line.dataset.status = info.status;
    var job = document.createElement("a");
    job.href = where;
    job.textContent = form.dataset.msgJobLink;
    line.appendChild(job);
    (info.links || []).forEach(function (l) {
      if (/results$/.test(l.rel)) {
        var results = document.createElement("a");
        results.href = l.href;
        results.textContent = " " + form.dataset.msgResults;
        line.appendChild(results);
      }
    });
  }

  async function request(url, options) {
    var r = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
    var text = await r.text();
    var body = null;
    try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: r.status, ok: r.ok, text: text, body: body, location: r.headers.get("Location") };
  }

  async function follow(form, where, headers) {
    var delay = 500;
    for (;;) {
      var r = await request(where, { headers: headers });
      if (!r.ok) { showProblem(form, r.status, r.body); return; }
      showStatus(form, r.body, where);
      if (FINISHED.indexOf(r.body.status) >= 0) { break; }
      await new Promise(function (done) { setTimeout(done, delay); });
      delay = Math.min(delay * 1.5, 3000);
    }
    if (r.body.status !== "successful") { return; }
    var link = (r.body.links || []).filter(function (l) { return /results$/.test(l.rel); })[0];
    var url = link ? link.href : where.replace(/\/?$/, "/results");
    var results = await request(url, { headers: headers });
    if (results.ok) { showResult(results.text); } else { showProblem(form, results.status, results.body); }
  }

  async function execute(form) {
    var problem = document.getElementById("problem");
    var inputs = collect(form);
    if (inputs === false) { return; }
    problem.hidden = true;
    document.getElementById("result").hidden = true;
    var line = document.getElementById("job-status");
    line.textContent = form.dataset.msgSending;
    delete line.dataset.status;
    var lang = document.documentElement.lang;
    var headers = { "Content-Type": "application/json", "Accept-Language": lang };
    var asyncBox = document.getElementById("execute-async");
    if (asyncBox && asyncBox.checked) { headers.Prefer = "respond-async"; }
    var r = await request(form.dataset.url, {
      method: "POST", headers: headers, body: JSON.stringify({ inputs: inputs })
    });
    line.textContent = "";
    if (!r.ok) { showProblem(form, r.status, r.body); return; }
    if (r.status === 201 && r.body && r.location) {
      await follow(form, r.location, { "Accept-Language": lang });
      return;
    }
    showResult(r.text);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("execute");
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      execute(form).catch(function () {
        showProblem(form, 0, { title: form.dataset.msgNetwork });
      }).finally(function () { button.disabled = false; });
    });
  });
}());
