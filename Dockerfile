# One image for every service; docker-compose.yml picks the entry point per service with `command`.
# Plain Dockerfile syntax (no BuildKit features), so the legacy builder and docker-compose v1 build it too.

# ---- manifests: the only input of the `npm ci` layers below ----
# Every workspace the root package.json lists must be here, or `npm ci` fails on the lock file
# (test/integration/deploy-config.test.ts checks the list). Sources come later, so editing code
# reuses the cached install.
FROM node:20-bookworm-slim AS manifests
# No "new npm version" notice in build logs.
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs/protocol/package.json libs/protocol/
COPY libs/wire-format/package.json libs/wire-format/
COPY libs/config/package.json libs/config/
COPY libs/telemetry/package.json libs/telemetry/
COPY libs/presence-store/package.json libs/presence-store/
COPY libs/client/package.json libs/client/
COPY libs/webhooks/package.json libs/webhooks/
COPY services/edge/package.json services/edge/
COPY services/sweeper/package.json services/sweeper/
COPY services/api/package.json services/api/
COPY services/webhooks/package.json services/webhooks/
COPY services/local/package.json services/local/
COPY services/cli/package.json services/cli/
COPY bench/package.json bench/

# ---- build: every dependency, then compile the services this image runs (and the libs they use) ----
FROM manifests AS build
# --ignore-scripts: `npm ci` would run the root `prepare` (tsc -b) before any source is here. No
# dependency's install script is needed to build: msgpackr-extract's only compiles when no prebuilt
# binary matches (one does, from @msgpackr-extract/*), the others belong to test-only packages.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json ./
COPY libs/ libs/
COPY services/ services/
COPY examples/ examples/
# /out gathers what the runtime needs: each workspace's manifest and dist/ (the API's holds the
# dashboard page, built by esbuild), and the Lua scripts the stores read at runtime from dist/../lua.
# The API serves its reference (GET /docs/api) from the page rendered here, with Redoc inlined, and the
# browser SDK bundle (GET /sdk/presence-client.js) with the example page (GET /examples/presence.html).
RUN npx tsc -b services/edge services/sweeper services/api services/webhooks services/local \
 && node libs/client/scripts/bundle.mjs \
 && npm run build:api-docs \
 && npm run build:dashboard \
 && mkdir /out \
 && for w in libs/protocol libs/wire-format libs/config libs/telemetry libs/presence-store libs/webhooks services/edge services/sweeper services/api services/webhooks services/local; do \
      mkdir -p "/out/$w" && cp -r "$w/package.json" "$w/dist" "/out/$w/"; \
    done \
 && cp -r libs/presence-store/lua /out/libs/presence-store/ \
 && cp -r libs/webhooks/lua /out/libs/webhooks/ \
 && mkdir -p /out/libs/client/dist && cp -r libs/client/dist/browser /out/libs/client/dist/ \
 && cp -r examples /out/examples

# ---- prod-deps: production dependencies of those services only (no CLI, SDK or bench packages) ----
FROM manifests AS prod-deps
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      -w @presence/edge -w @presence/sweeper -w @presence/api -w @presence/webhooks-worker -w @presence/local

# ---- runtime: production dependencies + compiled output, nothing else ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# node_modules/@presence/* are symlinks to ../../libs/* and ../../services/*: /out keeps those paths.
COPY --from=prod-deps /app/node_modules/ node_modules/
# A dependency in another version than the hoisted one is installed beside its workspace: ipaddr.js 2
# for libs/webhooks (express keeps 1.x at the top).
COPY --from=prod-deps /app/libs/webhooks/node_modules/ libs/webhooks/node_modules/
COPY --from=build /out/ ./

# Files stay root-owned (read-only for the service); the process runs unprivileged.
USER node

# edge TCP, edge WebSocket, api HTTP, edge metrics, sweeper metrics, webhooks metrics
EXPOSE 7070 7072 8080 9101 9102 9103
# Each service handles SIGTERM itself (the edge sends BYE and drains), so node can be PID 1.
CMD ["node", "services/api/dist/main.js"]
