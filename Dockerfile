# gcload's container image: a static binary (CGO_ENABLED=0; the SQLite
# store is modernc.org/sqlite, pure Go) on distroless's static base, run as
# its nonroot user (65532), as deploy/k8s's manifests expect.
#
#   make image                      # or: docker build -t gcload:dev --build-arg VERSION=dev .
#   docker run --rm gcload:dev run smoke

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/gcload/gcload/cmd/gcload/internal/cli.Version=${VERSION}" \
      -o /out/gcload ./cmd/gcload

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gcload /usr/local/bin/gcload
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/gcload"]
