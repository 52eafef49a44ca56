package ssekify_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, c := range [][2]uint64{{1, 0}, {1, 1}, {36, 35}, {math.MaxUint64, math.MaxUint64}, {0xfeedbeef, 123456789}} {
		tok := string(ssekify.AppendToken(nil, c[0], c[1]))
		e, p, ok := ssekify.ParseToken(tok)
		require.True(t, ok, tok)
		require.Equal(t, c, [2]uint64{e, p}, tok)
	}
	for _, bad := range []string{"", "v1.", "v1..", "v1.a.", "v1..a", "v2.a.b", "v1.A.b", "v1.0a.b", "v1.a.01",
		"v1.a.b.c", "v1.a.b ", " v1.a.b", "v1.3w5e11264sgsg.1", "v1.a.3w5e11264sgsg", "v1.a.-1", "1700000000000-ab12cd34-7"} {
		_, _, ok := ssekify.ParseToken(bad)
		require.False(t, ok, "%q", bad)
	}
}

// FuzzToken: no input panics the parser; whatever it accepts is the one
// canonical token of its position.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"v1.a.b", "v1.0.0", "v1.3w5e11264sgsf.3w5e11264sgsf", "v1.zz.1", "v1..", "\x00", "v1.a.b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, p, ok := ssekify.ParseToken(s)
		if !ok {
			return
		}
		if got := string(ssekify.AppendToken(nil, e, p)); got != s {
			t.Fatalf("%q parsed as (%d, %d), which is %q", s, e, p, got)
		}
		if strconv.FormatUint(p, 36) == "" {
			t.Fatal("empty position")
		}
	})
}
