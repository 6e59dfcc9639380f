# canary-exporter container: the same contract as Red Canary's image. Mount the config at
# /config.yaml and an output directory (e.g. /output), then:
#   docker run -t --volume $HOME/canary-exporter/config.yaml:/config.yaml \
#     --volume $HOME/canary-exporter/output:/output canary-exporter
# Relative directories in the config resolve under /data (the working directory).

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package.json
COPY --from=build /app/node_modules /app/node_modules
COPY --from=build /app/dist /app/dist
RUN mkdir -p /data /output && chown node:node /data /output
WORKDIR /data
USER node
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["run", "-c", "/config.yaml"]
