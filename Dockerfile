# One image for every service; docker-compose.yml picks the entry point per service with `command`.

# ---- build: install all deps, compile with tsc -b, then drop devDependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app

# Manifests first so the `npm ci` layer is reused until a package.json or the lock file changes.
COPY package.json package-lock.json tsconfig*.json ./
COPY libs/protocol/package.json libs/protocol/
COPY libs/config/package.json libs/config/
COPY libs/telemetry/package.json libs/telemetry/
COPY libs/presence-store/package.json libs/presence-store/
COPY services/edge/package.json services/edge/
COPY services/sweeper/package.json services/sweeper/
COPY services/api/package.json services/api/
COPY services/local/package.json services/local/
# Optional native dev deps (cpu-features, via testcontainers) may fail to compile here
# without a toolchain; npm skips them, and nothing at runtime needs them.
RUN npm ci --no-audit --no-fund

COPY libs/ libs/
COPY services/ services/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production deps + compiled output only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app

# node_modules/@presence/* are symlinks to ../../libs/* and ../../services/*, so every
# workspace is copied to the same path it had in the build stage.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/libs/protocol/package.json libs/protocol/
COPY --from=build /app/libs/protocol/dist/ libs/protocol/dist/
COPY --from=build /app/libs/config/package.json libs/config/
COPY --from=build /app/libs/config/dist/ libs/config/dist/
COPY --from=build /app/libs/telemetry/package.json libs/telemetry/
COPY --from=build /app/libs/telemetry/dist/ libs/telemetry/dist/
COPY --from=build /app/libs/presence-store/package.json libs/presence-store/
COPY --from=build /app/libs/presence-store/dist/ libs/presence-store/dist/
# Lua scripts are read at runtime from dist/../lua.
COPY --from=build /app/libs/presence-store/lua/ libs/presence-store/lua/
COPY --from=build /app/services/edge/package.json services/edge/
COPY --from=build /app/services/edge/dist/ services/edge/dist/
COPY --from=build /app/services/sweeper/package.json services/sweeper/
COPY --from=build /app/services/sweeper/dist/ services/sweeper/dist/
COPY --from=build /app/services/api/package.json services/api/
COPY --from=build /app/services/api/dist/ services/api/dist/
COPY --from=build /app/services/local/package.json services/local/
COPY --from=build /app/services/local/dist/ services/local/dist/

# Files stay root-owned (read-only for the service); the process runs unprivileged.
USER node

# edge TCP, api HTTP, edge metrics, sweeper metrics
EXPOSE 7070 8080 9101 9102
# Each service handles SIGTERM itself (the edge sends BYE and drains), so node can be PID 1.
CMD ["node", "services/api/dist/main.js"]
