// The web map on the CGCS2000 grid (/map?tms=CGCS2000Quad): OpenLayers draws the server's
// tiles in EPSG:4490 on the Tianditu "c" matrix set, which MapLibre (Web Mercator only)
// cannot. Same layers, switcher and before/after blend as onemap-webmap.js.
(function () {
  "use strict";
  var ol = window.ol;

  function colourOf(style, properties) {
    if (!style.property) { return style.fill; }
    var value = properties[style.property];
    var key = value === undefined || value === null ? "" : String(value);
    if (style.prefix) { key = key.slice(0, style.prefix); }
    return style.colours[key] || style.fill;
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function vectorStyle(style, geometry) {
    var cache = {};
    var stroke = new ol.style.Stroke({ color: style.stroke, width: Math.max(style.stroke_width, geometry.indexOf("Line") >= 0 ? 1 : 0.4) });
    return function (feature) {
      var fill = colourOf(style, feature.getProperties());
      if (!cache[fill]) {
        var colour = rgba(fill, style.fill_opacity);
        cache[fill] = geometry.indexOf("Point") >= 0
          ? new ol.style.Style({ image: new ol.style.Circle({ radius: 4, fill: new ol.style.Fill({ color: rgba(fill, 0.9) }), stroke: stroke }) })
          : new ol.style.Style({ fill: new ol.style.Fill({ color: colour }), stroke: stroke });
      }
      return cache[fill];
    };
  }

  function build(el, config) {
    var grid = config.grid;
    var projection = new ol.proj.Projection({ code: "EPSG:4490", units: "degrees", extent: [-180, -90, 180, 90], global: true });
    ol.proj.addProjection(projection);
    ol.proj.addEquivalentProjections([projection, ol.proj.get("EPSG:4326")]);
    var tileGrid = new ol.tilegrid.TileGrid({ origin: grid.origin, resolutions: grid.resolutions, tileSize: 256, extent: [-180, -90, 180, 90] });
    function urls(template) {
      return function (coord) {  // OpenLayers counts levels from 0, rows from the top
        return template.replace("{z}", coord[0] + grid.minzoom).replace("{y}", coord[2]).replace("{x}", coord[1]);
      };
    }
    var byId = {}, olLayers = [];
    config.layers.forEach(function (layer) {
      byId[layer.id] = [];
      if (layer.kind === "imagery" || layer.kind === "basemap") {
        Object.keys(layer.tiles).forEach(function (image) {
          var tiles = new ol.layer.Tile({
            source: new ol.source.XYZ({ projection: projection, tileGrid: tileGrid, tileUrlFunction: urls(layer.tiles[image]), attributions: layer.attribution || undefined, crossOrigin: "anonymous" }),
            minZoom: Math.max(0, layer.minzoom - grid.minzoom) - 0.5
          });
          tiles.set("name", layer.id + ":" + image);
          olLayers.push(tiles);
          byId[layer.id].push(tiles);
        });
      }
    });
    config.layers.forEach(function (layer) {
      if (layer.kind !== "vector") { return; }
      var vector = new ol.layer.VectorTile({
        source: new ol.source.VectorTile({ format: new ol.format.MVT(), projection: projection, tileGrid: tileGrid, tileUrlFunction: urls(layer.tiles) }),
        style: vectorStyle(layer.style, layer.geometry),
        minZoom: Math.max(0, layer.minzoom - grid.minzoom) - 0.5
      });
      vector.set("name", layer.id);
      olLayers.push(vector);
      byId[layer.id].push(vector);
    });
    var map = new ol.Map({
      target: el,
      layers: olLayers,
      view: new ol.View({ projection: projection, resolutions: grid.resolutions, constrainResolution: true }),
      controls: ol.control.defaults.defaults().extend([new ol.control.ScaleLine()])
    });
    var imagery = config.layers.filter(function (l) { return l.kind === "imagery" && l.bounds; })[0];
    var b = imagery ? imagery.bounds : config.bounds || [73, 18, 135, 54];
    map.getView().fit(b, { padding: [20, 20, 20, 20] });
    var needed = config.layers.filter(function (l) {
      var box = document.querySelector('[data-layer="' + l.id + '"]');
      return l.kind === "vector" && (!box || box.checked);
    }).map(function (l) { return l.minzoom - grid.minzoom; });
    if (needed.length && map.getView().getZoom() < Math.max.apply(null, needed)) {
      map.getView().setZoom(Math.max.apply(null, needed));
    }
    document.querySelectorAll("[data-layer]").forEach(function (box) {
      function apply() { byId[box.dataset.layer].forEach(function (l) { l.setVisible(box.checked); }); }
      apply();
      box.addEventListener("change", apply);
    });
    document.querySelectorAll("[data-blend]").forEach(function (range) {
      range.addEventListener("input", function () {
        olLayers.forEach(function (l) {
          if (l.get("name") === range.dataset.blend + ":after") { l.setOpacity(range.value / 100); }
        });
      });
    });
    map.on("rendercomplete", function () { el.dataset.ready = "true"; });
    el.onemapMap = map;  // for tests and page scripts
  }
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("webmap");
    var config = document.getElementById("map-config");
    if (!el || !config || !ol) { return; }
    build(el, JSON.parse(config.textContent));
  });
})();
