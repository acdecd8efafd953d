# A Node runtime image made from the host's own Node, with no registry: scratch plus the host's
# `node` binary (stripped), the shared libraries `ldd node` lists (glibc, libstdc++, libgcc_s, the
# dynamic loader), and /etc files naming a non-root user app (uid/gid 10001).
# Build it with scripts/build-images.sh, which assembles the context:
#   rootfs/usr/local/bin/node, rootfs/<each library at its ldd path>, rootfs/etc/{passwd,group,nsswitch.conf},
#   rootfs/tmp (1777), home/ (empty: the user's home)
# No shell, no package manager: the programs' images copy their files in from a build stage.
FROM scratch
COPY rootfs/ /
COPY --chown=10001:10001 home/ /home/app/
ENV PATH=/usr/local/bin NODE_ENV=production HOME=/home/app
USER 10001:10001
WORKDIR /home/app
ENTRYPOINT ["/usr/local/bin/node"]
