package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildBinary compiles the switchboard command into dir once per run, the way an
// operator gets it, so the harness drives the real binary and not test wiring.
func buildBinary(ctx context.Context, dir string, race bool) (string, error) {
	out := filepath.Join(dir, "switchboard")
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "switchboard/cmd/switchboard")
	cmd := exec.CommandContext(ctx, "go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build switchboard: %w: %s", err, stderr.String())
	}
	return out, nil
}

// freeAddr reserves a loopback port and releases it for a child process to listen on.
// The child may restart many times on the same address: the service's configuration
// names it, and the signed webhook URLs do.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("reserve a loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is one run of a child process (the service or the emulator). Its output goes to
// a log file in the run's directory, one per start, so a failure can be read after.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

func startProc(name, bin string, args []string, env []string, logPath string) (*proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: lf}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL (kill -9) to this process, by its own pid, and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and waits up to grace, then kills.
func (p *proc) term(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, grace)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHTTP polls url until it answers 200, the process exits or timeout passes.
func waitHTTP(p *proc, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited before it served %s: %v (see %s)", p.name, url, p.err, p.log.Name())
		}
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not serve %s within %s (see %s)", p.name, url, timeout, p.log.Name())
}

// emulatorProc runs `switchboard dev hubspot` over a state file, so that restarting it
// keeps its contacts and inbox (SIGTERM saves; the next start loads).
type emulatorProc struct {
	bin, addr, state, logPath string
	args                      []string
	env                       []string

	mu       sync.Mutex
	cur      *proc
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
	p, err := startProc("emulator", e.bin, args, e.env, e.logPath)
	if err != nil {
		return err
	}
	if err := waitHTTP(p, e.url()+"/_emulator/contacts", 20*time.Second); err != nil {
		p.kill()
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
	err := e.cur.term(15 * time.Second)
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
	cur *proc
}

func (s *serviceProc) url() string { return "http://" + s.addr }

func (s *serviceProc) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := startProc("service", s.bin, []string{"serve", "--config", s.config, "--log-level", "warn"}, s.env, s.logPath)
	if err != nil {
		return err
	}
	if err := waitHTTP(p, s.url()+"/healthz", 30*time.Second); err != nil {
		p.kill()
		return err
	}
	s.cur = p
	return nil
}

func (s *serviceProc) kill9() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.kill()
		s.cur = nil
	}
}

func (s *serviceProc) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	err := s.cur.term(30 * time.Second)
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
