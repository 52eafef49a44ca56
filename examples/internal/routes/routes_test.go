package routes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ssekify/ssekify"
)

func TestBodyAndReply(t *testing.T) {
	echoBody := Body(func(w http.ResponseWriter, _ *http.Request, data json.RawMessage) {
		Reply(w, nil, map[string]string{"got": string(data)})
	})
	for _, c := range []struct {
		body   string
		status int
		answer string
	}{
		{"", http.StatusOK, `{"got":"{}"}`},
		{`{"a":1}`, http.StatusOK, `{"got":"{\"a\":1}"}`},
		{`[1, 2]`, http.StatusOK, `{"got":"[1, 2]"}`},
		{`{oops`, http.StatusBadRequest, `{"error":"body is not JSON"}`},
		{`"` + strings.Repeat("x", MaxBody) + `"`, http.StatusRequestEntityTooLarge, `{"error":"http: request body too large"}`},
	} {
		w := httptest.NewRecorder()
		echoBody(w, httptest.NewRequest("POST", "/", strings.NewReader(c.body)))
		got, _ := io.ReadAll(w.Body)
		if w.Code != c.status || strings.TrimSpace(string(got)) != c.answer {
			t.Errorf("body %.20q: %d %s, want %d %s", c.body, w.Code, got, c.status, c.answer)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

// TestBodyReadErrors: a body cut by the read deadline is 408, a body that
// breaks off otherwise 400.
func TestBodyReadErrors(t *testing.T) {
	never := Body(func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
		t.Error("next called for a body that could not be read")
	})
	for _, c := range []struct {
		err    error
		status int
		answer string
	}{
		{os.ErrDeadlineExceeded, http.StatusRequestTimeout, `{"error":"body not received in time"}`},
		{io.ErrUnexpectedEOF, http.StatusBadRequest, `{"error":"body can not be read: unexpected EOF"}`},
	} {
		w := httptest.NewRecorder()
		never(w, httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(`{"a":`), iotest.ErrReader(c.err))))
		got, _ := io.ReadAll(w.Body)
		if w.Code != c.status || strings.TrimSpace(string(got)) != c.answer {
			t.Errorf("%v: %d %s, want %d %s", c.err, w.Code, got, c.status, c.answer)
		}
	}
}

// TestStatus maps the errors of ReadBody and of the hub's calls to statuses.
func TestStatus(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{&http.MaxBytesError{Limit: MaxBody}, http.StatusRequestEntityTooLarge},
		{wrap(ssekify.ErrPayloadTooLarge), http.StatusRequestEntityTooLarge},
		{errNotJSON, http.StatusBadRequest},
		{wrap(errBodyRead), http.StatusBadRequest},
		{wrap(ssekify.ErrInvalidEvent), http.StatusBadRequest},
		{wrap(ssekify.ErrEmptyTarget), http.StatusBadRequest},
		{wrap(ssekify.ErrTooLong), http.StatusBadRequest},
		{wrap(ssekify.ErrMissingField), http.StatusBadRequest},
		{errBodyTimeout, http.StatusRequestTimeout},
		{fmt.Errorf("%w: publish: %w", ssekify.ErrBroker, os.ErrDeadlineExceeded), http.StatusBadGateway},
		{wrap(ssekify.ErrNotAccepting), http.StatusServiceUnavailable},
		{wrap(ssekify.ErrClosed), http.StatusServiceUnavailable},
		{wrap(ssekify.ErrSerialize), http.StatusInternalServerError},
		{errors.New("anything else"), http.StatusInternalServerError},
	} {
		if got := Status(c.err); got != c.want {
			t.Errorf("Status(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" a:1, ,b:2,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("SplitList = %q", got)
	}
	if SplitList("") != nil {
		t.Fatal("an empty list is nil")
	}
}
