# kubeve: `docker build -t kubeve .`, then `docker run kubeve operator` (in a cluster: deploy/helm/kubeve)
# or `docker run -p 6443:6443 -p 8443:8443 kubeve server --host 0.0.0.0`.

# ---- build: all dependencies, TypeScript → dist/ ----------------------------------------------
FROM node:24-slim AS build
WORKDIR /src
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts=false
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime: production dependencies and dist/ only, non-root ------------------------------
FROM node:24-slim
ENV NODE_ENV=production \
    KUBEVE_DATA_DIR=/var/lib/kubeve
WORKDIR /app
# jemalloc: the server keeps a flat RSS under TLS connection churn with it (bench:churn); the CLI uses it when present.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 kubeve \
 && useradd --system --uid 10001 --gid kubeve --home-dir /var/lib/kubeve --no-create-home kubeve \
 && mkdir -p /var/lib/kubeve && chown kubeve:kubeve /var/lib/kubeve
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY deploy/crds ./deploy/crds
COPY deploy/rbac/aggregate-roles.yaml ./deploy/rbac/aggregate-roles.yaml
USER 10001:10001
# 6443 Kubernetes API (server mode), 8443 EVE device API
EXPOSE 6443 8443
ENTRYPOINT ["node", "/app/bin/kubeve.js"]
CMD ["operator"]
