# nats-server for rowforge: the static nats-server binary (the version in go.mod), the nats CLI
# (for health checks: `nats server check jetstream`), deploy/nats/nats-server.conf at
# /etc/nats/nats-server.conf, and /data (mode 1777) for the JetStream store. FROM scratch;
# built by `make images` through deploy/docker/build-image.sh.
FROM scratch
COPY rootfs/ /
VOLUME /data
# The nats CLI wants $USER (no cgo, no user database) to find its context folder.
ENV USER=nats
EXPOSE 4222 8222
USER 65534:65534
ENTRYPOINT ["/nats-server"]
CMD ["-c", "/etc/nats/nats-server.conf"]
