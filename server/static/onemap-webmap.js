// The web map (/map): imagery (COG tiles), vector tiles (MVT) of every collection,
// a layer switcher and a before/after blend for image pairs. No basemap from the
// internet: the server's own imagery is the basemap.
(function () {
  "use strict";
  // Colours come from the server (tiles/style.py), the same ones its map tiles use.
  function fillColour(style) {
    if (!style.property) { return style.fill; }
    var value = ["to-string", ["coalesce", ["get", style.property], ""]];
    if (style.prefix) { value = ["slice", value, 0, style.prefix]; }
    var keys = Object.keys(style.colours);
    if (!keys.length) { return style.fill; }
    var expression = ["match", value];
    keys.forEach(function (key) { expression.push(key, style.colours[key]); });
    expression.push(style.fill);
    return expression;
  }

  function vectorLayers(layer) {
    var style = layer.style;
    var common = { source: layer.id, "source-layer": layer.id };
    var out = [];
    if (layer.geometry.indexOf("Polygon") >= 0) {
      out.push(Object.assign({ id: layer.id + ":fill", type: "fill", paint: { "fill-color": fillColour(style), "fill-opacity": style.fill_opacity } }, common));
      out.push(Object.assign({ id: layer.id + ":line", type: "line", paint: { "line-color": style.stroke, "line-width": style.stroke_width } }, common));
    } else if (layer.geometry.indexOf("Line") >= 0) {
      out.push(Object.assign({ id: layer.id + ":line", type: "line", paint: { "line-color": style.stroke, "line-width": Math.max(style.stroke_width, 1) } }, common));
    } else {
      out.push(Object.assign({ id: layer.id + ":point", type: "circle", paint: { "circle-color": fillColour(style), "circle-radius": 4, "circle-stroke-color": style.stroke, "circle-stroke-width": 1 } }, common));
    }
    return out;
  }

  function build(el, config) {
    var sources = {}, layers = [{ id: "bg", type: "background", paint: { "background-color": "#eef2f5" } }];
    var byId = {};
    config.layers.forEach(function (layer, index) {
      byId[layer.id] = [];
      if (layer.kind === "imagery" || layer.kind === "basemap") {
        Object.keys(layer.tiles).forEach(function (image) {
          var id = layer.id + ":" + image;
          sources[id] = { type: "raster", tiles: [layer.tiles[image]], tileSize: 256, minzoom: layer.minzoom, maxzoom: layer.maxzoom - 2 };
          if (layer.bounds) { sources[id].bounds = layer.bounds; }
          if (layer.attribution) { sources[id].attribution = layer.attribution; }
          layers.push({ id: id, type: "raster", source: id, paint: { "raster-opacity": 1, "raster-fade-duration": 0 } });
          byId[layer.id].push(id);
        });
      }
    });
    config.layers.forEach(function (layer) {
      if (layer.kind === "vector") {
        sources[layer.id] = { type: "vector", tiles: [layer.tiles], minzoom: layer.minzoom, maxzoom: layer.maxzoom };
        if (layer.bounds) { sources[layer.id].bounds = layer.bounds; }
        vectorLayers(layer).forEach(function (l) { layers.push(l); byId[layer.id].push(l.id); });
      }
    });
    var imagery = config.layers.filter(function (l) { return l.kind === "imagery"; })[0];
    var b = imagery ? imagery.bounds : config.bounds;
    var map = new maplibregl.Map({
      container: el,
      style: { version: 8, sources: sources, layers: layers },
      bounds: b ? [[b[0], b[1]], [b[2], b[3]]] : [[73, 18], [135, 54]],
      fitBoundsOptions: { padding: 20 },
      attributionControl: false,
      preserveDrawingBuffer: true
    });
    map.addControl(new maplibregl.NavigationControl());
    map.addControl(new maplibregl.ScaleControl());
    function visible(id, on) {
      byId[id].forEach(function (l) { map.setLayoutProperty(l, "visibility", on ? "visible" : "none"); });
    }
    map.on("load", function () {
      // Close enough for the checked vector layers to have tiles (dense layers start late).
      var needed = config.layers.filter(function (l) {
        var box = document.querySelector('[data-layer="' + l.id + '"]');
        return l.kind === "vector" && (!box || box.checked);
      }).map(function (l) { return l.minzoom; });
      if (needed.length && map.getZoom() < Math.max.apply(null, needed)) {
        map.setZoom(Math.max.apply(null, needed));
      }
      document.querySelectorAll("[data-layer]").forEach(function (box) {
        visible(box.dataset.layer, box.checked);
        box.addEventListener("change", function () { visible(box.dataset.layer, box.checked); });
      });
      document.querySelectorAll("[data-blend]").forEach(function (range) {
        range.addEventListener("input", function () {
          map.setPaintProperty(range.dataset.blend + ":after", "raster-opacity", range.value / 100);
        });
      });
      map.on("click", function (e) {
        var found = map.queryRenderedFeatures(e.point).filter(function (f) { return f.layer.type !== "raster"; });
        if (!found.length) { return; }
        var f = found[0];
        var rows = [f.sourceLayer].concat(Object.keys(f.properties).slice(0, 10).map(function (k) { return k + ": " + f.properties[k]; }));
        new maplibregl.Popup().setLngLat(e.lngLat).setText(rows.join("\n")).addTo(map);
      });
    });
    map.on("idle", function () { el.dataset.ready = "true"; });
    el.onemapMap = map;  // for tests and page scripts
  }
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("webmap");
    var config = document.getElementById("map-config");
    if (!el || !config || !window.maplibregl) { return; }
    build(el, JSON.parse(config.textContent));
  });
})();
