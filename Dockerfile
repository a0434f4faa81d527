# Switchboard: one image for the web and the worker processes (the command chooses).
# Build: docker build -t switchboard .   Run: see compose.yaml and docs/deploy/README.md.
# test/deploy/dockerfile.test.ts runs this file's COPY, RUN, CMD and HEALTHCHECK steps in a clean directory.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY scripts ./scripts
COPY src ./src
# Production dependencies only; npm's `prepare` builds the CLI into dist/cli and the dashboard into dist/web.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 LOG_FORMAT=json
WORKDIR /app
# Owned by root, run as node: the process cannot change its own code.
COPY --from=build /app /app
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The web process; compose.yaml runs `worker` from the same image.
CMD ["node", "bin/switchboard.js", "start", "--no-worker"]
