# syntax=docker/dockerfile:1
# The appliance in one image: docker run -p 8080:8080 -v healthcare-data:/data IMAGE
#
# It carries its own PostgreSQL (build tag bundle_pg; extracted into the volume at first start),
# so its runtime is a scratch image with only what the binaries need: about 45 MB.
# Before building, fetch the PostgreSQL payload (npm registry) into the build context:
#   go run ./release -pg-only -platforms linux/amd64      (linux/arm64 for an arm64 image)
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_DATE=$(git log -1 --format=%cI) -t healthcare .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_DATE=
RUN arch=$(go env GOARCH); test -s app/database/pgbundle/linux_$arch.tar.zst || { \
      echo "The PostgreSQL payload is missing: run 'go run ./release -pg-only -platforms linux/$arch' before building the image." >&2; exit 1; }
# Static binary (no cgo), no paths of the build machine, no symbol tables, PostgreSQL inside.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags bundle_pg -o /out/healthcare \
      -ldflags "-s -w -buildid= -X healthcare/app/cli.Version=${VERSION} -X healthcare/app/cli.Commit=${COMMIT} -X healthcare/app/cli.BuildDate=${BUILD_DATE}" .

# The runtime's root file system: the C and C++ libraries and loader PostgreSQL's binaries (and ICU) need, C.UTF-8
# locale, /bin/sh (initdb runs postgres through it), tini as PID 1, CA certificates (ACME), and
# the user healthcare (uid 10001) that owns /data.
FROM debian:bookworm-slim AS rootfs
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    ma=$(basename "$(ls -d /usr/lib/*-linux-gnu | head -n1)"); \
    mkdir -p /rootfs/usr/lib/$ma /rootfs/usr/bin /rootfs/usr/local/bin /rootfs/usr/lib/locale /rootfs/etc/ssl/certs \
             /rootfs/etc/healthcare /rootfs/data /rootfs/tmp; \
    ln -s usr/lib /rootfs/lib; ln -s usr/bin /rootfs/bin; \
    for l in libc.so.6 libm.so.6 libpthread.so.0 librt.so.1 libdl.so.2 libnss_files.so.2 libstdc++.so.6 libgcc_s.so.1; do \
      if [ -e /usr/lib/$ma/$l ]; then cp -L /usr/lib/$ma/$l /rootfs/usr/lib/$ma/; fi; done; \
    if [ -e /lib64/ld-linux-x86-64.so.2 ]; then mkdir -p /rootfs/lib64; cp -L /lib64/ld-linux-x86-64.so.2 /rootfs/lib64/; fi; \
    if [ -e /lib/ld-linux-aarch64.so.1 ]; then cp -L /lib/ld-linux-aarch64.so.1 /rootfs/usr/lib/; fi; \
    cp -a /usr/lib/locale/C.utf8 /rootfs/usr/lib/locale/; \
    cp -L /bin/dash /rootfs/usr/bin/sh; \
    cp -L /usr/bin/tini-static /rootfs/usr/bin/tini; \
    cp -L /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nhealthcare:x:10001:10001:healthcare:/data:/usr/sbin/nologin\n' >/rootfs/etc/passwd; \
    printf 'root:x:0:\nhealthcare:x:10001:\n' >/rootfs/etc/group; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >/rootfs/etc/nsswitch.conf; \
    chmod 1777 /rootfs/tmp; chown 10001:10001 /rootfs/data; chmod 700 /rootfs/data

FROM scratch
COPY --from=rootfs /rootfs/ /
COPY --from=rootfs --chown=10001:10001 /rootfs/data /data
COPY --from=build /out/healthcare /usr/local/bin/healthcare
ENV PATH=/usr/local/bin:/usr/bin \
    LANG=C.UTF-8 \
    HEALTHCARE_DATA_DIR=/data \
    HEALTHCARE_SERVER_ADDR=0.0.0.0:8080 \
    HEALTHCARE_EMBEDDED_BINARIES=bundled
# ./config.yaml and ./.env are read from here: mount yours at /etc/healthcare/config.yaml.
WORKDIR /etc/healthcare
USER 10001:10001
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["healthcare", "healthcheck"]
# tini is PID 1: it forwards docker stop's SIGTERM and reaps what PostgreSQL leaves behind.
ENTRYPOINT ["/usr/bin/tini", "--", "healthcare"]
CMD ["serve"]
