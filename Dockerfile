# One image with the three binaries (and the local launcher).
#   docker build -t vmcluster .
#   docker run --rm vmcluster /usr/local/bin/vmstorage --help
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vmstorage -p vminsert -p vmselect -p vmcluster \
 && strip target/release/vmstorage target/release/vminsert target/release/vmselect target/release/vmcluster

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vmstorage /src/target/release/vminsert \
     /src/target/release/vmselect /src/target/release/vmcluster /usr/local/bin/
# nobody:nogroup; the manifests also run with a read-only root file system.
USER 65534:65534
EXPOSE 8480 8481 8482 8400 8401
CMD ["/usr/local/bin/vmcluster", "-dataPath=/tmp/data"]
