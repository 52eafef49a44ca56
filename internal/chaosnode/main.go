// Command chaosnode is one ssekify instance for the chaos test (chaos_test.go
// in the root package): a hub on a Redis broker behind a loopback HTTP
// server, run as its own process so that the test can SIGKILL it.
//
//	chaosnode -redis 127.0.0.1:6379 -addr 127.0.0.1:0 -id n0
//
// Routes:
//
//	GET  /sse?user=U&rooms=r1,r2          hub.Register(w, r, U, &RegisterOptions{Rooms: [r1 r2]})
//	POST /publish?kind=user|room|all&target=T   body: JSON data; Publish* an event named "chaos"
//	GET  /stats                           hub.Stats() as JSON
//
// /publish answers 204 when the Publish* call returned nil and 502 with the
// error otherwise. Once listening, it prints "listening 127.0.0.1:PORT" on
// stdout. SIGTERM (or SIGINT) shuts the hub down (hub.Shutdown) and then the
// server, and the process exits 0. It also exits when its parent process is
// gone or after -lifetime, so a test killed without its cleanup leaves no
// process behind.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaosnode:", err)
		os.Exit(1)
	}
}

func run() error {
	redisAddr := flag.String("redis", "", "Redis address host:port (required)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address; the host must be 127.0.0.1")
	id := flag.String("id", "", "Options.InstanceID (default: random)")
	channel := flag.String("channel", "", "Options.Channel (default: ssekify's)")
	lifetime := flag.Duration("lifetime", 15*time.Minute, "exit after this long whatever happens")
	grace := flag.Duration("route-grace", 0, "Options.RouteGrace (default: ssekify's)")
	flag.Parse()
	if *redisAddr == "" {
		return errors.New("-redis is required")
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || host != "127.0.0.1" {
		return fmt.Errorf("-addr %q: want 127.0.0.1:<port>", *addr)
	}

	// No retries by go-redis: a command whose reply was lost may have run,
	// and running it again would publish an event twice behind the hub's
	// back. The hub sees every failure and reports it.
	rc := redis.NewClient(&redis.Options{
		Addr:          *redisAddr,
		MaxRetries:    -1,
		DialTimeout:   time.Second,
		DialerRetries: 1,
		ReadTimeout:   2 * time.Second,
		WriteTimeout:  2 * time.Second,
	})
	defer rc.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hub, err := ssekify.New(&ssekify.Options{
		Redis:      ssekify.NewRedisBroker(rc),
		Channel:    *channel,
		InstanceID: *id,
		Logger:     logger,
		RouteGrace: *grace,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		var rooms []string
		if v := r.URL.Query().Get("rooms"); v != "" {
			rooms = strings.Split(v, ",")
		}
		_ = hub.Register(w, r, r.URL.Query().Get("user"), &ssekify.RegisterOptions{Rooms: rooms})
	})
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		ev := ssekify.Event{Name: "chaos", Data: json.RawMessage(body)}
		q := r.URL.Query()
		switch q.Get("kind") {
		case "user":
			err = hub.PublishToUser(ctx, q.Get("target"), ev)
		case "room":
			err = hub.PublishToRoom(ctx, q.Get("target"), ev)
		case "all":
			err = hub.Publish(ctx, ev)
		default:
			http.Error(w, "kind: user, room or all", http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(hub.Stats())
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		shutdown(hub)
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	parent := os.Getppid()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	end := time.After(*lifetime)
	var why error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-served:
			why = fmt.Errorf("server: %w", err)
			break wait
		case <-end:
			why = fmt.Errorf("lifetime of %v over", *lifetime)
			break wait
		case <-tick.C:
			if os.Getppid() != parent {
				why = errors.New("parent process gone")
				break wait
			}
		}
	}
	shutdown(hub)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return why
}

// shutdown closes every stream at once and ends the subscription.
func shutdown(hub *ssekify.Hub) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := hub.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true}); err != nil {
		fmt.Fprintln(os.Stderr, "chaosnode: shutdown:", err)
	}
}
