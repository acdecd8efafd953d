# The balancer image: FROM the local Node base (scripts/build-images.sh builds it first), as a
# non-root user. Build it with scripts/build-images.sh, which assembles the context:
#   package.json, package-lock.json, node_modules/ (npm ci --omit=dev --omit=optional --ignore-scripts
#   from the lock file, run on the host), dist/ (tsc), busybox (the host's static /bin/busybox).
#
# Run it where it reaches etcd and the backends' addresses, e.g. on the host network:
#   docker run -d --name balancer --network host -e ETCD_ENDPOINTS=http://127.0.0.1:2379 \
#     sidekick-local/balancer --default-service web
# or on a bridge network with the admin listener opened to it: -p 8080:8080 -e BALANCER_ADMIN=0.0.0.0:9090.
# `docker stop` sends SIGTERM: in-flight requests get --grace (10 s) to finish; give docker stop more.
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
COPY dist/balancer/ /app/dist/balancer/
RUN ["/bin/busybox", "sh", "-c", "cd /app && /bin/busybox rm -rf node_modules/.bin node_modules/@types node_modules/.package-lock.json && /bin/busybox find . -type f \\( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.tsbuildinfo' -o -name '*.md' -o -name '*.markdown' \\) ! -iname 'licen?e*' -exec /bin/busybox rm -f {} +"]
RUN ["/usr/local/bin/node", "/app/dist/balancer/main.js", "--version"]

# Stage 2: the base plus /app in one layer, owned by root (the program cannot change itself).
FROM ${NODE_BASE}
COPY --from=app /app/ /app/
WORKDIR /app
USER 10001:10001
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/node", "/app/dist/balancer/main.js"]
