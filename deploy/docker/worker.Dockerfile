# rowforge worker: one static Go binary FROM scratch. Built by `make images` through
# deploy/docker/build-image.sh, whose context holds rootfs/worker and an empty rootfs/tmp.
FROM scratch
COPY rootfs/ /
# No user database in scratch: a numeric user (nobody); compose runs it as the invoking user.
USER 65534:65534
ENTRYPOINT ["/worker"]
