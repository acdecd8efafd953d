# The sidekick image: FROM the local Node base (scripts/build-images.sh builds it first), as a
# non-root user. Build it with scripts/build-images.sh, which assembles the context:
#   package.json, package-lock.json, node_modules/ (npm ci --omit=dev --omit=optional --ignore-scripts
#   from the lock file, run on the host), dist/ (tsc), busybox (the host's static /bin/busybox).
#
# Run it beside the containers it publishes, with /var/run mounted read-only (the directory, not
# the socket file, so a restarted dockerd's new socket is seen: moby#31403), joined to the
# socket's group so the non-root user may read the Docker API, and on the host network (etcd on
# 127.0.0.1 is reachable and the host's IP is detected) or with --host-ip:
#   docker run -d --name sidekick --network host -v /var/run:/var/run:ro \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -e ETCD_ENDPOINTS=http://127.0.0.1:2379 \
#     sidekick-local/sidekick
# `docker stop` sends SIGTERM: the sidekick revokes its lease, so every entry vanishes at once.
ARG NODE_BASE=sidekick-local/node-base:20

# Stage 1: assemble /app, drop what Node never loads, and prove every import resolves.
FROM ${NODE_BASE} AS app
# Lets scripts/build-images.sh remove this stage once the final image is built.
LABEL sidekick.build=stage
USER 0:0
COPY busybox /bin/busybox
COPY package.json package-lock.json /app/
COPY node_modules/ /app/node_modules/
COPY dist/common/ /app/dist/common/
COPY dist/sidekick/ /app/dist/sidekick/
RUN ["/bin/busybox", "sh", "-c", "cd /app && /bin/busybox rm -rf node_modules/.bin node_modules/@types node_modules/.package-lock.json && /bin/busybox find . -type f \\( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.tsbuildinfo' -o -name '*.md' -o -name '*.markdown' \\) ! -iname 'licen?e*' -exec /bin/busybox rm -f {} +"]
RUN ["/usr/local/bin/node", "/app/dist/sidekick/main.js", "--version"]

# Stage 2: the base plus /app in one layer, owned by root (the program cannot change itself).
FROM ${NODE_BASE}
COPY --from=app /app/ /app/
WORKDIR /app
USER 10001:10001
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/sidekick/main.js"]
