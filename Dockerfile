# Multi-stage build: a static binary on a distroless, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/redirector ./cmd/redirector
# DATA_DIR: the record mirror (with Redis) or the embedded store (without). An empty directory owned by
# the non-root user, so that a volume mounted on it starts with that owner.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/redirector /redirector
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV DATA_DIR=/data
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/redirector"]
