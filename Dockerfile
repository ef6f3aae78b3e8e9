# Berth: build with `docker build -t berth .`, run with
#   docker run -p 5000:5000 -v berth-data:/var/lib/berth berth
# Stage 1 compiles the TypeScript; stage 2 holds only what runs: dist/, production
# node_modules, config/, as the unprivileged `node` user, with data on a volume.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY storage-drivers ./storage-drivers
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
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
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve", "--config", "config/registry.yaml"]
