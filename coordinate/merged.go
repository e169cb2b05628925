package coordinate

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// PathMerged is where a coordinator serves the merged results folder once
// the run is over (ServeFolder): GET PathMerged is the whole folder as a
// gzip-compressed tar (the shards' folders under shards/ included), and
// GET PathMerged/FILE one of its files (summary.json, report.html...).
const PathMerged = "/v1/merged"

// FolderOptions configure ServeFolder.
type FolderOptions struct {
	// Token, when set, must be presented ("Authorization: Bearer TOKEN").
	Token string
	// TLSConfig, when set, makes the server speak HTTPS.
	TLSConfig *tls.Config
	// Health is what GET /v1/healthz answers (the run's end state), so
	// that a readiness probe keeps the coordinator's pod ready while it
	// serves.
	Health Health
	// Logger receives a line per download (default: discarded).
	Logger *slog.Logger
}

// ServeFolder serves dir (the merged results folder) on ln until ctx ends,
// then closes ln: how the results leave a coordinator's pod when no
// volume is shared. Downloads in flight when ctx ends get a few seconds
// to finish.
func ServeFolder(ctx context.Context, ln net.Listener, dir string, o FolderOptions) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		ln.Close()
		return fmt.Errorf("coordinate: serving %s: not a folder", dir)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.TLSConfig != nil {
		ln = tls.NewListener(ln, o.TLSConfig)
	}
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if o.Token != "" && subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(o.Token)) != 1 {
				refuse(w, http.StatusUnauthorized, "the results need this run's token (Authorization: Bearer TOKEN)")
				return
			}
			log.Info("results downloaded", "path", r.URL.Path, "from", r.RemoteAddr)
			h(w, r)
		}
	}
	files := http.StripPrefix(PathMerged+"/", http.FileServerFS(os.DirFS(dir)))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, o.Health) })
	mux.HandleFunc("GET "+PathMerged, authed(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Disposition", `attachment; filename="results.tar.gz"`)
		if err := WriteArchive(w, dir); err != nil {
			log.Warn("results archive cut short", "err", err)
		}
	}))
	mux.HandleFunc("GET "+PathMerged+"/", authed(files.ServeHTTP))
	hs := &http.Server{
		Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("coordinate: serving the results: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("coordinate: serving the results: %w", err)
	}
	return nil
}
