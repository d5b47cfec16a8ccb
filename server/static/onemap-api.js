// The API page: Swagger UI over the OpenAPI document named by #swagger-ui's data-url.
// A file of its own: the pages' Content-Security-Policy allows no inline script.
window.addEventListener("load", function () {
  var el = document.getElementById("swagger-ui");
  if (el && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: el.dataset.url, dom_id: "#swagger-ui" });
  }
});
