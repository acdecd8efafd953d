# An etcd image made from the host's etcd and etcdctl (Debian's etcd-server and etcd-client), for
# templates/docker-compose.yml, with no registry: scratch plus both binaries, the libraries
# `ldd` lists and a non-root user app (uid/gid 10001) owning the data dir.
# Build it with scripts/build-images.sh, which assembles the context:
#   rootfs/usr/local/bin/{etcd,etcdctl}, rootfs/<libraries>, rootfs/etc/{passwd,group,nsswitch.conf},
#   rootfs/tmp (1777), data/ (empty: /var/lib/etcd)
FROM scratch
COPY rootfs/ /
COPY --chown=10001:10001 data/ /var/lib/etcd/
ENV PATH=/usr/local/bin ETCD_DATA_DIR=/var/lib/etcd ETCDCTL_API=3
USER 10001:10001
VOLUME /var/lib/etcd
EXPOSE 2379 2380
ENTRYPOINT ["/usr/local/bin/etcd"]
