// Draws the features of a page (embedded JSON or fetched from data-items) with MapLibre GL.
// No basemap: government intranets have no internet; the server's own data is the map.
(function () {
  "use strict";
  function bounds(fc) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    function walk(c) {
      if (typeof c[0] === "number") {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
        b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else { c.forEach(walk); }
    }
    fc.features.forEach(function (f) { if (f.geometry) { walk(f.geometry.coordinates); } });
    return isFinite(b[0]) ? b : null;
  }
  function draw(el, fc, bbox) {
    var map = new maplibregl.Map({
      container: el,
      style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#eef2f5" } }] },
      bounds: bbox ? [[bbox[0], bbox[1]], [bbox[2], bbox[3]]] : [[73, 18], [135, 54]],
      fitBoundsOptions: { padding: 20 },
      attributionControl: false,
      preserveDrawingBuffer: true
    });
    map.addControl(new maplibregl.NavigationControl());
    map.on("load", function () {
      map.addSource("features", { type: "geojson", data: fc });
      map.addLayer({ id: "fill", type: "fill", source: "features", paint: { "fill-color": "#2e8b57", "fill-opacity": 0.35 } });
      map.addLayer({ id: "line", type: "line", source: "features", paint: { "line-color": "#0b6e4f", "line-width": 1 } });
      map.addLayer({ id: "point", type: "circle", source: "features", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-color": "#0b6e4f", "circle-radius": 4 } });
      map.on("click", "fill", function (e) {
        var f = e.features[0];
        var rows = Object.keys(f.properties).slice(0, 8).map(function (k) { return k + ": " + f.properties[k]; });
        new maplibregl.Popup().setLngLat(e.lngLat).setText(rows.join("\n")).addTo(map);
      });
      el.dataset.ready = "true";
      el.onemapMap = map;  // for tests and page scripts
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("map");
    if (!el || !window.maplibregl) { return; }
    var embedded = document.getElementById("features");
    if (embedded) {
      var fc = JSON.parse(embedded.textContent);
      draw(el, fc, bounds(fc));
    } else if (el.dataset.items) {
      var bbox = el.dataset.bbox ? el.dataset.bbox.split(",").map(Number) : null;
      fetch(el.dataset.items, { headers: { Accept: "application/geo+json" } })
        .then(function (r) { return r.json(); })
        .then(function (fc) { draw(el, fc, bbox || bounds(fc)); });
    }
  });
})();
