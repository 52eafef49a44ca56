package browsertest

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestIgnoreCertificateErrors loads a page from an HTTPS server with a
// self-signed certificate and HTTP/2: refused by a default browser, loaded
// over h2 by one launched with IgnoreCertificateErrors.
func TestIgnoreCertificateErrors(t *testing.T) {
	t.Run("chromium", func(t *testing.T) {
		var proto atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proto.Store(int64(r.ProtoMajor))
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<!doctype html><title>tls</title><p>over TLS</p>")
		}))
		srv.EnableHTTP2 = true
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
		srv.StartTLS()
		t.Cleanup(srv.Close)
		if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
			t.Fatalf("server URL %s is not https on 127.0.0.1", srv.URL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		strict := Launch(t)
		if _, err := strict.NewPage(ctx, srv.URL+"/"); err == nil || !strings.Contains(err.Error(), "CERT") {
			t.Errorf("a default browser loaded the self-signed page: err = %v, want a certificate error", err)
		}

		b := Launch(t, IgnoreCertificateErrors())
		p, err := b.NewPage(ctx, srv.URL+"/")
		if err != nil {
			t.Fatalf("NewPage with IgnoreCertificateErrors: %v", err)
		}
		got, err := p.Protocol(ctx)
		if err != nil {
			t.Fatalf("Protocol: %v", err)
		}
		if got != "h2" {
			t.Errorf("page protocol = %q, want h2", got)
		}
		if n := proto.Load(); n != 2 {
			t.Errorf("the server saw HTTP/%d, want HTTP/2", n)
		}
	})
	goleak.VerifyNone(t)
}
