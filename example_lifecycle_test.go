package ssekify_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ssekify/ssekify"
)

// The shutdown order: the hub first (it announces, waits the grace period
// and ends every stream), then the server, which streams would otherwise
// hold forever.
func ExampleHub_Shutdown() {
	hub, _ := ssekify.New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		_ = hub.Register(w, r, "alice", nil)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()

	// A client reads its stream until the server ends it.
	resp, err := http.Get("http://" + ln.Addr().String() + "/sse")
	if err != nil {
		fmt.Println(err)
		return
	}
	got := make(chan []string)
	go func() {
		defer resp.Body.Close()
		var events []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events = append(events, name)
			}
		}
		got <- events
	}()

	// On SIGTERM:
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("hub:", hub.Shutdown(ctx, ssekify.ShutdownOptions{Grace: 100 * time.Millisecond}))
	fmt.Println("server:", srv.Shutdown(ctx))

	fmt.Println("client got:", <-got, "then the end of its stream")
	// Output:
	// hub: <nil>
	// server: <nil>
	// client got: [server:shutdown] then the end of its stream
}
