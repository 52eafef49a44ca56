package ssekify_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/ssekify/ssekify"
)

// Register runs inside any handler and blocks for the stream's life. Here a
// user joins a room at register time and a second one through its handle.
func ExampleHub_Register() {
	hub, _ := ssekify.New(nil)
	handler := func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("userId") // in real code: from the session or a signed token
		err := hub.Register(w, r, user, &ssekify.RegisterOptions{
			Rooms:  []string{"global"},
			OnOpen: func(c *ssekify.Conn) { _ = c.Join("team-" + user[:1]) },
		})
		if err != nil {
			log.Printf("stream of %s ended: %v", user, err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	defer hub.CloseAll()

	resp, err := http.Get(srv.URL + "/sse?userId=alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))

	n, _ := hub.SendToRoom("team-a", ssekify.Event{Name: "notify", Data: "hi team"})
	fmt.Println("delivered to", n)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			fmt.Println(data)
			break
		}
	}
	// Output:
	// text/event-stream; charset=utf-8
	// delivered to 1
	// "hi team"
}

// Publish reaches the streams of every instance that shares the Redis
// channel: each instance delivers to its own connections. Without a broker
// it is local only.
func ExampleHub_Publish() {
	hub, err := ssekify.New(&ssekify.Options{RedisURL: "redis://localhost:6379/0"})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Shutdown(context.Background(), ssekify.ShutdownOptions{})

	ctx := context.Background()
	// Everyone, on every instance.
	_ = hub.Publish(ctx, ssekify.Event{Name: "broadcast", Data: map[string]string{"text": "deploy at 5pm"}})
	// One user, wherever its streams are.
	_ = hub.PublishToUser(ctx, "alice", ssekify.Event{Name: "notify", Data: map[string]any{
		"requestId": "req-1", "phase": "progress", "payload": map[string]int{"percent": 40},
	}})
	// One room.
	if err := hub.PublishToRoom(ctx, "global", ssekify.Event{Name: "room", Data: "hello"}); err != nil {
		log.Printf("delivered here, not elsewhere: %v", err)
	}
}

// The exact bytes on the wire: the retry line, then per event an id line,
// an event line and one data line per line of the payload.
func ExampleHub_SendToUser() {
	hub, _ := ssekify.New(&ssekify.Options{
		Retry:      3 * time.Second,
		KeepAlive:  -1,
		AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}, // keep the output stable
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = hub.Register(w, r, "alice", nil)
	}))
	defer srv.Close()
	defer hub.CloseAll()
	resp, err := http.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	_, _ = hub.SendToUser("alice", ssekify.Event{ID: "41", Name: "notify", Data: map[string]string{"text": "hi"}})
	_, _ = hub.SendToUser("alice", ssekify.Event{ID: "42", Data: []byte("line one\nline two")})

	r := bufio.NewReader(resp.Body)
	epoch := regexp.MustCompile(`^id: v1\.[0-9a-z]+\.`) // random per hub
	for blank := 0; blank < 4; {
		line, err := r.ReadString('\n')
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q\n", epoch.ReplaceAllString(line, "id: v1.<epoch>."))
		if line == "\n" {
			blank++
		}
	}
	// Output:
	// "retry: 3000\n"
	// "\n"
	// "id: v1.<epoch>.0\n"
	// "\n"
	// "id: 41\n"
	// "event: notify\n"
	// "data: {\"text\":\"hi\"}\n"
	// "\n"
	// "id: 42\n"
	// "data: line one\n"
	// "data: line two\n"
	// "\n"
}
