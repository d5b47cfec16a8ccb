// A process page: the execute form posts its JSON body and shows the answer.
// A file of its own: the pages' Content-Security-Policy allows no inline script.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("execute");
  if (!form) { return; }
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var out = document.getElementById("outcome");
    var headers = { "Content-Type": "application/json", "Accept-Language": document.documentElement.lang };
    if (form.async.checked) { headers["Prefer"] = "respond-async"; }
    var r = await fetch(form.dataset.url, { method: "POST", headers: headers, body: form.body.value });
    var text = await r.text();
    var where = r.headers.get("Location");
    out.textContent = r.status + (where ? " " + where : "") + "\n" + text.slice(0, 20000);
  });
});
