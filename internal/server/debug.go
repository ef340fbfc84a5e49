package server

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// DebugHandler serves the runtime's profiles (net/http/pprof under
// /debug/pprof/) and variables (expvar under /debug/vars) for `--debug-addr`.
// It is a separate handler on a separate listener: it never joins the
// product's mux, so no public route can reach it. The process command line
// is left out of both (a database URL in a flag may carry a password).
func DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the command line is not served: it may hold secrets", http.StatusNotFound)
	})
	mux.HandleFunc("GET /debug/vars", vars)
	return mux
}

// vars is expvar.Handler without "cmdline".
func vars(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprint(w, "{\n")
	first := true
	expvar.Do(func(kv expvar.KeyValue) {
		if kv.Key == "cmdline" {
			return
		}
		if !first {
			fmt.Fprint(w, ",\n")
		}
		first = false
		fmt.Fprintf(w, "%q: %s", kv.Key, kv.Value)
	})
	fmt.Fprint(w, "\n}\n")
}

// ServeDebug serves DebugHandler on ln until ctx ends. The write timeout
// leaves room for the longest CPU profile or trace a caller may ask for.
func ServeDebug(ctx context.Context, ln net.Listener, log *slog.Logger) {
	hs := &http.Server{
		Handler:           DebugHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      10 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	log.Info("debug endpoints listening (pprof, expvar)", "addr", ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("debug listener stopped", "err", err)
	}
}
