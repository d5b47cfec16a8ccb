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
  // 三调 level-1 classes (first two characters of DLBM): fill colours
  var CLASS_COLOURS = ["match", ["slice", ["to-string", ["coalesce", ["get", "DLBM"], ""]], 0, 2],
    "00", "#7fd3e6", "01", "#f2e36b", "02", "#e0b04a", "03", "#3c9a46", "04", "#a6d96a",
    "05", "#e8545c", "06", "#b05a9e", "07", "#e88b6b", "08", "#f29db4", "09", "#9e4c4c",
    "10", "#a0a0a0", "11", "#5aa8e6", "12", "#d9c8a9", "#2e8b57"];
  function draw(el, fc, bbox, extent) {
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
      map.addLayer({ id: "fill", type: "fill", source: "features", paint: { "fill-color": CLASS_COLOURS, "fill-opacity": 0.6 } });
      map.addLayer({ id: "line", type: "line", source: "features", paint: { "line-color": "#35524a", "line-width": 0.6 } });
      if (extent) {
        map.addSource("extent", { type: "geojson", data: { type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [[
          [extent[0], extent[1]], [extent[2], extent[1]], [extent[2], extent[3]], [extent[0], extent[3]], [extent[0], extent[1]]]] } } });
        map.addLayer({ id: "extent", type: "line", source: "extent", paint: { "line-color": "#c0392b", "line-width": 2, "line-dasharray": [2, 2] } });
      }
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
      // Collection page: the extent, and a sample of features from its centre.
      var extent = el.dataset.bbox ? el.dataset.bbox.split(",").map(Number) : null;
      var url = el.dataset.items, view = extent;
      if (extent) {
        var cx = (extent[0] + extent[2]) / 2, cy = (extent[1] + extent[3]) / 2;
        var hw = (extent[2] - extent[0]) / 24, hh = (extent[3] - extent[1]) / 24;
        view = [cx - hw, cy - hh, cx + hw, cy + hh];
        url += "&bbox=" + view.join(",");
      }
      fetch(url, { headers: { Accept: "application/geo+json" } })
        .then(function (r) { return r.json(); })
        .then(function (fc) { draw(el, fc, view || bounds(fc), extent); });
    }
  });
})();
