package wire

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{0, MinPayloadSize, 256, 8192} {
		const ts = int64(1795633699083123456)
		p := AppendPayload(nil, ts, size)
		if want := max(size, MinPayloadSize); len(p) != want {
			t.Fatalf("size %d: payload of %d bytes, want %d", size, len(p), want)
		}
		if !json.Valid(p) {
			t.Fatalf("payload %q is not JSON", p)
		}
		line := append([]byte("data: "), p...)
		got, err := ParseTimestamp(line)
		if err != nil || got != ts {
			t.Fatalf("ParseTimestamp = %d, %v; want %d", got, err, ts)
		}
	}
	if _, err := ParseTimestamp([]byte("data: nothing")); err != ErrNoTimestamp {
		t.Fatalf("a line without a payload gave %v", err)
	}
}

func TestParseTimestampDoesNotAllocate(t *testing.T) {
	line := append([]byte("data: "), AppendPayload(nil, 42, 256)...)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTimestamp(line) }); n != 0 {
		t.Fatalf("%v allocations per parse", n)
	}
}

func TestProcessCPU(t *testing.T) {
	before := ProcessCPU(os.Getpid())
	deadline := time.Now().Add(300 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		n++ // burn CPU, bounded in time
	}
	after := ProcessCPU(os.Getpid())
	if after <= before || n == 0 {
		t.Fatalf("CPU time did not grow: %v then %v", before, after)
	}
	if ProcessCPU(-1) != 0 {
		t.Fatal("an unreadable process must give 0")
	}
}
