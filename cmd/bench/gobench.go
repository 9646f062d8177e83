package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// benchResult is one line of `go test -bench` output.
type benchResult struct {
	Name    string // without the -GOMAXPROCS suffix
	Pkg     string
	N       int
	Metrics map[string]float64 // "ns/op", "events/s", "B/op", ...
}

// goBench runs the benchmarks matching pattern in pkgs, with the stores' files in dir
// (TMPDIR), so every figure of the run is measured on the same disk. Its raw output is
// kept in dir for benchstat.
func goBench(ctx context.Context, dir, pattern, benchtime string, pkgs ...string) ([]benchResult, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	f, err := os.OpenFile(filepath.Join(dir, "gobench.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "# go %s\n%s", strings.Join(args, " "), out.String())
		f.Close()
	}
	return parseBench(out.String()), nil
}

// parseBench reads benchmark lines: name, iterations, then value-unit pairs.
func parseBench(out string) []benchResult {
	var res []benchResult
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := benchResult{Name: name, Pkg: pkg, N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			r.Metrics[f[i+1]] = v
		}
		res = append(res, r)
	}
	return res
}

func find(rs []benchResult, name string) (benchResult, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return benchResult{}, false
}

func splitFields(s string) []string { return strings.Fields(s) }
