# trm on Debian 12: a build stage and a small runtime stage. The master key is never part of
# the image: its directory is mounted (docker-compose.yml). trmd and trmctl run as uid 10001,
# which must own the key file (mode 0600) and the passfiles.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libsodium-dev \
        libpq-dev libunistring-dev libcurl4-openssl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY include include
COPY service service
COPY config config
COPY sql sql
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTRM_BUILD_TESTS=OFF \
    && cmake --build build -j"$(nproc)"

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libsodium23 libpq5 libunistring2 libcurl4 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin trm
COPY --from=build /src/build/trmd /src/build/trmctl /usr/local/bin/
COPY sql/migrations /usr/share/trm/migrations
COPY config/trmd.conf /etc/trm/trmd.conf
ENV TRM_MIGRATIONS_DIR=/usr/share/trm/migrations
USER trm
EXPOSE 8080
CMD ["trmd", "--config", "/etc/trm/trmd.conf"]
