# One image for every function: esbuild bundles (no node_modules at run time), non-root, small runtime.
# Each Knative Service picks its bundle with `command: ["node", "/app/<bundle>/index.mjs"]` (see knative/).

FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY functions ./functions
COPY shared ./shared
COPY scripts ./scripts
COPY knative/exchanges.txt ./knative/exchanges.txt
RUN npm run build

FROM node:22-bookworm-slim AS runtime
WORKDIR /app
COPY --from=build --chown=0:0 /src/dist/ /app/
ENV NODE_ENV=production PORT=8080
EXPOSE 8080
# The image's `node` user, by number so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
CMD ["node", "/app/load-raw/index.mjs"]
