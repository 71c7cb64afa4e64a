# trm on Debian 12, built by the same install step as the Debian package: the build stage
# makes trm_<version>_amd64.deb with CMake and CPack (what scripts/test builds and tests), and
# the runtime stage installs that package with apt, which brings exactly the libraries its
# Depends name. The master key is never part of the image: its directory is mounted
# (docker-compose.yml). trmd and trmctl run as uid 10001, which must own the key file (mode
# 0600) and the passfiles.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config dpkg-dev file libmicrohttpd-dev libjansson-dev \
        libsodium-dev libpq-dev libunistring-dev libcurl4-openssl-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTRM_BUILD_TESTS=OFF \
        -DCMAKE_INSTALL_PREFIX=/usr \
    && cmake --build build -j"$(nproc)" \
    && cd build && cpack -G DEB && mv trm_*_amd64.deb /trm.deb

FROM debian:12-slim
COPY --from=build /trm.deb /tmp/trm.deb
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        /tmp/trm.deb ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* /tmp/trm.deb \
    && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin trm
# The package's paths: /usr/bin/trmd and trmctl, /etc/trm/trmd.conf, /usr/share/trm/
# (migrations, which trmctl migrate finds by itself, SOPs, the console's files).
ENV TRM_WEB_DIR=/usr/share/trm/web TRM_CODES_DIR=/usr/share/trm/codes
USER trm
EXPOSE 8080
CMD ["trmd", "--config", "/etc/trm/trmd.conf"]
