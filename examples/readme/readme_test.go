// Package readme checks that every Go code block of the repository's
// README compiles against the library as it is.
package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

func TestREADMEGoBlocksCompile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllSubmatch(readme, -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d Go blocks in README.md; the extraction is broken", len(blocks))
	}
	// The blocks are built inside this module, so that they resolve the
	// library through its replace directive.
	dir, err := os.MkdirTemp(".", "blocks")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for i, b := range blocks {
		pkg := filepath.Join(dir, "b"+strconv.Itoa(i))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), b[1], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("go", "vet", "./"+dir+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("README Go blocks do not compile:\n%s", out)
	}
}
