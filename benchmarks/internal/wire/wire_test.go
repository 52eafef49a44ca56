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
		const seq = int64(4294967295)
		p := AppendPayload(nil, ts, seq, size)
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
		gotTS, gotSeq, err := ParsePayload(line)
		if err != nil || gotTS != ts || gotSeq != seq {
			t.Fatalf("ParsePayload = %d, %d, %v; want %d, %d", gotTS, gotSeq, err, ts, seq)
		}
	}
	if _, seq, err := ParsePayload([]byte(`data: "@123~xx"`)); err != nil || seq != -1 {
		t.Fatalf("a payload without a sequence gave %d, %v", seq, err)
	}
	if _, err := ParseTimestamp([]byte("data: nothing")); err != ErrNoTimestamp {
		t.Fatalf("a line without a payload gave %v", err)
	}
}

func TestParseTimestampDoesNotAllocate(t *testing.T) {
	line := append([]byte("data: "), AppendPayload(nil, 42, 7, 256)...)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ParsePayload(line) }); n != 0 {
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
