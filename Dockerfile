# Berth: build with `docker build -t berth .` (or `buildah bud --format docker -t berth .`), run with
#   docker run -p 5000:5000 -v berth-data:/var/lib/berth berth
# Stage 1 compiles the TypeScript and the web console (Vite); stage 2 holds only what runs: dist/, production
# node_modules, config/, as the unprivileged `node` user (uid 1000), with data on a volume.
#
# Safe by default: it listens on 0.0.0.0 with no authentication configured, so it serves pulls
# only and refuses pushes and deletes until you choose: token auth (mount a config with
# `auth.mode: token`, see README "Authentication") or `-e BERTH_AUTH_MODE=none` for an open
# registry on a trusted network. HTTPS: mount a certificate and key and set
# BERTH_TLS_CERTIFICATE / BERTH_TLS_KEY, or use ACME (README "Running it in production").
#
# NODE_IMAGE names the base (any image with Node >= 20 and npm at /usr/local/bin, a `node` user
# of uid 1000): CI builds this file from a Node base assembled locally.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY storage-drivers ./storage-drivers
COPY web ./web
RUN npx tsc -p tsconfig.json && npm run build:console && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    BERTH_LISTEN=0.0.0.0:5000 \
    BERTH_STORAGE_FILESYSTEM_ROOT=/var/lib/berth
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
RUN mkdir -p /var/lib/berth && chown node:node /var/lib/berth
USER node
VOLUME /var/lib/berth
EXPOSE 5000
# SIGTERM: requests in flight finish (up to 10 s), then Berth exits 0; give it that long.
STOPSIGNAL SIGTERM
# Node's own client (the slim base has neither curl nor wget); HTTPS is asked over loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/src/cli.js", "healthcheck"]
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve", "--config", "config/registry.yaml"]
