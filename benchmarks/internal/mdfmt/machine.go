package mdfmt

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
)

// Machine describes where and on what code a run happened.
type Machine struct {
	Commit    string // short hash of the root module's HEAD, or "?"
	Dirty     int    // files with uncommitted changes outside benchmarks/
	Given     bool   // Commit came from the tool's -commit flag
	Root      string // the root module's directory, "" if not found
	GoVersion string // e.g. "go1.26.8 linux/amd64"
	CPUs      int
	Model     string // the CPU model, "" if unknown
}

// DescribeMachine finds the root module (the nearest directory at or above
// the working directory whose go.mod declares github.com/ssekify/ssekify,
// the replace target of the benchmarks module) and asks git for its HEAD
// and for uncommitted changes outside benchmarks/. A non-empty commit
// names a tree that is not a git checkout (git archive): it is reported as
// given.
func DescribeMachine(commit string) Machine {
	m := Machine{Commit: "?", Given: commit != "", GoVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		CPUs: runtime.NumCPU(), Model: cpuload.Model()}
	dir, err := os.Getwd()
	if err != nil {
		return m
	}
	for !isRootModule(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			return m
		}
		dir = parent
	}
	m.Root = dir
	if m.Given {
		m.Commit = commit
		return m
	}
	if out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			m.Dirty = strings.Count(s, "\n") + 1
		}
	}
	return m
}

// Code names the code measured: "commit `abc1234`", with where a given
// commit was read from, and how many files had uncommitted changes.
func (m Machine) Code() string {
	code := "commit `" + m.Commit + "`"
	if m.Given {
		code += " (" + m.Root + ", exported from git: -commit)"
	}
	if m.Dirty > 0 {
		code += fmt.Sprintf(" with uncommitted changes in %d file(s) outside benchmarks/", m.Dirty)
	}
	return code
}

// CPU is "N CPUs (model)".
func (m Machine) CPU() string {
	cpu := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.Model != "" {
		cpu += " (" + m.Model + ")"
	}
	return cpu
}

// isRootModule reports whether path is a go.mod of the root module.
func isRootModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "module github.com/ssekify/ssekify" {
			return true
		}
	}
	return false
}
