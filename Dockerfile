# syntax=docker/dockerfile:1
# Parley's production image: built in one stage, run from a slim one as the unprivileged `node` user.
#   docker build -t parley .
#   docker run -p 3000:3000 -e DATABASE_URL=postgresql://... parley
# (See docs/operations.md. This file could not be built on the machine it was written on, which has no
# container engine; every path below was checked against the build's output instead.)

ARG NODE_VERSION=20-bookworm-slim

FROM node:${NODE_VERSION} AS build
WORKDIR /app
# npm ci runs the project's postinstall (prisma generate, Swagger metadata from src/), so the sources go
# in first. Prisma's generate needs no network engine here (PRISMA_SCHEMA_ENGINE_BINARY=/bin/false).
COPY . .
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && npm run build:web \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    PGLITE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The web client, served at / (WEB_ENABLED); src/web/web-client.ts finds it beside dist/.
COPY --from=build /app/web/dist ./web/dist
# The migration runner reads prisma/migrations beside dist/ at start (DB_MIGRATE_ON_START).
COPY --from=build /app/prisma/migrations ./prisma/migrations
# The embedded database's directory, for a container run without DATABASE_URL (mount a volume on it).
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
# Liveness only: readiness (/health/ready) belongs to the orchestrator's routing decision, not to restarts.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts the graceful shutdown (SHUTDOWN_GRACE_MS, 10 s by default): give the container more than that.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
