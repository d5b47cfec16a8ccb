# OneMap Server image: multi-stage, non-root, with a health check.
# GDAL/PROJ/GEOS come inside the rasterio, pyogrio, pyproj and shapely wheels.

# --- browser libraries from the npm registry (served by the server, never from a CDN)
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# --- Python environment
FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY providers ./providers
COPY processes ./processes
COPY tiles ./tiles
COPY config ./config
COPY openapi ./openapi
COPY --from=web /web/node_modules/maplibre-gl/dist/maplibre-gl.js \
                /web/node_modules/maplibre-gl/dist/maplibre-gl.css \
                /web/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
                /web/node_modules/swagger-ui-dist/swagger-ui.css \
                /web/node_modules/ol/dist/ol.js /web/node_modules/ol/ol.css \
                ./server/static/vendor/
RUN python -m venv /opt/onemap && /opt/onemap/bin/pip install .

# --- runtime
FROM python:3.12-slim-bookworm
# Pango and a CJK font: PDF reports of processes (WeasyPrint) with Chinese text
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /var/lib/onemap onemap
COPY --from=build /opt/onemap /opt/onemap
ENV PATH=/opt/onemap/bin:$PATH \
    ONEMAP_DATA_DIR=/var/lib/onemap/data \
    ONEMAP_SERVER__HOST=0.0.0.0 \
    ONEMAP_SERVER__PORT=8000
USER onemap
WORKDIR /var/lib/onemap
VOLUME ["/var/lib/onemap/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/conformance', timeout=4)"]
# With no --config the embedded demo is served; mount a config and pass --config for production.
CMD ["onemap", "serve"]
