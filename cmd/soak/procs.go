package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"switchboard/cmd/internal/harness"
)

// emulatorProc runs `switchboard dev hubspot` over a state file, so that restarting it
// keeps its contacts and inbox (SIGTERM saves; the next start loads).
type emulatorProc struct {
	bin, addr, state, logPath string
	args                      []string
	env                       []string

	mu       sync.Mutex
	cur      *harness.Proc
	starts   int
	faults   map[string]int
	requests map[string]int
}

func (e *emulatorProc) url() string { return "http://" + e.addr }

func (e *emulatorProc) start(faultArgs []string, seed int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	args := append([]string{"dev", "hubspot", "--listen", e.addr, "--state", e.state, "--seed", strconv.FormatInt(seed, 10)}, e.args...)
	args = append(args, faultArgs...)
	p, err := harness.Start("emulator", e.bin, args, e.env, e.logPath)
	if err != nil {
		return err
	}
	if err := harness.WaitHTTP(p, e.url()+"/_emulator/contacts", 20*time.Second); err != nil {
		p.Kill()
		return err
	}
	e.cur = p
	e.starts++
	return nil
}

// stop asks the running emulator for its fault statistics, then stops it with SIGTERM
// (it saves its state on the way out).
func (e *emulatorProc) stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return nil
	}
	var st struct {
		Requests     map[string]int
		FaultsByKind map[string]int
	}
	if err := getJSON(e.url()+"/_emulator/stats", &st); err == nil {
		if e.faults == nil {
			e.faults, e.requests = map[string]int{}, map[string]int{}
		}
		for k, v := range st.FaultsByKind {
			e.faults[k] += v
		}
		for k, v := range st.Requests {
			e.requests[k] += v
		}
	}
	err := stopped(e.cur.Term(15 * time.Second))
	e.cur = nil
	return err
}

func getJSON(url string, v any) error {
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// serviceProc runs `switchboard serve` and kills and restarts it.
type serviceProc struct {
	bin, config, addr, logPath string
	env                        []string

	mu  sync.Mutex
	cur *harness.Proc
}

func (s *serviceProc) url() string { return "http://" + s.addr }

func (s *serviceProc) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := harness.Start("service", s.bin, []string{"serve", "--config", s.config, "--log-level", "warn"}, s.env, s.logPath)
	if err != nil {
		return err
	}
	if err := harness.WaitHTTP(p, s.url()+"/healthz", 30*time.Second); err != nil {
		p.Kill()
		return err
	}
	s.cur = p
	return nil
}

func (s *serviceProc) kill9() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.Kill()
		s.cur = nil
	}
}

func (s *serviceProc) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	err := stopped(s.cur.Term(30 * time.Second))
	s.cur = nil
	return err
}

// run executes the binary once (audit, rebuild) and returns its standard output.
func runOnce(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("switchboard %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// stopped is Term's answer as the soak takes it: a child that had to be killed is an
// error, one that exited with a status after SIGTERM is not (a service stopped
// mid-request may exit non-zero; what counts is what the log holds).
func stopped(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}
