package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// worker is server B: it accepts jobs, does them in the background and calls
// server A back with the result. It holds no stream and needs no hub.
type worker struct {
	aURL   string        // server A's base URL
	token  string        // bearer token of A's /fanout, or ""
	delay  time.Duration // how long a job's "work" takes
	client *http.Client
	logger *slog.Logger

	ctx  context.Context // ends when the worker stops: jobs give up
	stop context.CancelFunc
	jobs sync.WaitGroup
}

func newWorker(aURL, token string, delay time.Duration, logger *slog.Logger) *worker {
	ctx, stop := context.WithCancel(context.Background())
	return &worker{
		aURL: aURL, token: token, delay: delay,
		client: &http.Client{Timeout: 10 * time.Second},
		logger: logger,
		ctx:    ctx, stop: stop,
	}
}

// newMux returns server B's routes: POST /jobs/{userId} answers 202 with a
// jobId at once; the result reaches the user's stream on A later.
func (wk *worker) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs/{userId}", func(w http.ResponseWriter, r *http.Request) {
		userID := r.PathValue("userId")
		jobID := newID()
		wk.jobs.Add(1)
		go func() {
			defer wk.jobs.Done()
			wk.run(userID, jobID)
		}()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"jobId": jobID})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	})
	return mux
}

// run does one job and reports its result to A.
func (wk *worker) run(userID, jobID string) {
	select {
	case <-time.After(wk.delay): // the work
	case <-wk.ctx.Done():
		return
	}
	data := map[string]any{"jobId": jobID, "status": "done", "result": fmt.Sprintf("job %s finished", jobID)}
	if err := wk.callback(userID, "notify", data); err != nil {
		wk.logger.Error("callback to server A failed", slog.String("jobId", jobID), slog.Any("err", err))
	}
}

// callback posts {userId, event, data} to A's /fanout.
func (wk *worker) callback(userID, event string, data any) error {
	body, err := json.Marshal(map[string]any{"userId": userID, "event": event, "data": data})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(wk.ctx, http.MethodPost, wk.aURL+"/fanout", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if wk.token != "" {
		req.Header.Set("Authorization", "Bearer "+wk.token)
	}
	resp, err := wk.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("/fanout answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// close waits for the pending jobs until ctx ends, then makes the rest give
// up. Call it once no handler can start a job any more (after the server's
// Shutdown).
func (wk *worker) close(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		wk.jobs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	wk.stop()
	<-done
}

// newID returns a random job id.
func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
