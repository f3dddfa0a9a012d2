# syntax=docker/dockerfile:1
# The appliance in one image: docker run -p 8080:8080 -v healthcare-data:/data IMAGE

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Static binary (no cgo), no paths of the build machine, no symbol tables.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X healthcare/app/cli.Version=${VERSION}" -o /out/healthcare .

FROM debian:bookworm-slim
# Debian's PostgreSQL server binaries, so the image runs offline; no default cluster (we make our own
# in /data); tini reaps PostgreSQL's processes as PID 1.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common \
 && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
 && apt-get install -y --no-install-recommends postgresql-15 tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 healthcare \
 && useradd --system --uid 10001 --gid healthcare --home-dir /data --no-create-home --shell /usr/sbin/nologin healthcare \
 && mkdir -p /data /etc/healthcare \
 && chown healthcare:healthcare /data \
 && chmod 700 /data
COPY --from=build /out/healthcare /usr/local/bin/healthcare

ENV HEALTHCARE_DATA_DIR=/data \
    HEALTHCARE_SERVER_ADDR=0.0.0.0:8080 \
    HEALTHCARE_EMBEDDED_BINARIES_PATH=/usr/lib/postgresql/15
# ./config.yaml and ./.env are read from here: mount yours at /etc/healthcare/config.yaml.
WORKDIR /etc/healthcare
USER healthcare
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["healthcare", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "healthcare"]
CMD ["serve"]
