# One image for every function: esbuild bundles (no node_modules at run time), non-root, small runtime.
# Each Knative Service picks its bundle with `command: ["node", "/app/<bundle>/index.mjs"]` (see knative/); extract
# starts from its bundle's V8 startup snapshot: `command: ["node", "--snapshot-blob=/app/extract-<id>/snapshot.blob"]`.

# A startup snapshot only loads in the node binary that made it: the build and the runtime use the same image.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY functions ./functions
COPY shared ./shared
COPY scripts ./scripts
COPY knative/exchanges.txt ./knative/exchanges.txt
# The bundles, and the startup snapshot of each extract bundle (snapshot.blob beside it), as npm run bench:extract
# measures them. node loads a snapshot only under the V8 flags it was made with: the runtime's NODE_OPTIONS below.
RUN NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=1" npm run build

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=build --chown=0:0 /src/dist/ /app/
# V8's heap sized for a 256Mi pod: a young generation of 1 MiB semi-spaces (Node's default of 16 MiB cost ~30 MiB of
# RSS under load) and an old-space ceiling well below the limit, so V8 collects before the kernel's OOM killer
# ends the pod (sized from the cgroup, V8's default ceiling is about the whole limit). Measured: npm run bench:memory.
ENV NODE_ENV=production PORT=8080 NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=1"
EXPOSE 8080
# The image's `node` user, by number so that Kubernetes can verify runAsNonRoot.
USER 1000:1000
CMD ["node", "/app/load-raw/index.mjs"]
