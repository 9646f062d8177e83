package main

// The process handling below is the soak harness's (cmd/soak/procs.go), trimmed to what
// several nodes need: this harness runs three services where the soak runs one.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildBinary compiles the switchboard command into dir, the way an operator gets it, so
// the harness drives the real binary and not test wiring.
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

// freeAddr reserves a loopback port and releases it for a child process to listen on;
// a node restarts on the same address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("reserve a loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is one run of a child process; its output goes to a log file of the run.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
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
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
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

// term sends SIGTERM and waits up to grace, then kills. A graceful stop must exit 0.
func (p *proc) term(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, grace)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited after SIGTERM with %w (see %s)", p.name, p.err, p.log)
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
			return fmt.Errorf("%s exited before it served %s: %v (see %s)", p.name, url, p.err, p.log)
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
	return fmt.Errorf("%s did not serve %s within %s (see %s)", p.name, url, timeout, p.log)
}

// node is one `switchboard serve` on its own address, killed and restarted by the run.
type node struct {
	name, bin, config, addr, logPath string
	env                              []string

	mu  sync.Mutex
	cur *proc
}

func (n *node) url() string { return "http://" + n.addr }

// start runs the node and waits until it is ready (/readyz): a deploy moves on to the
// next node only then.
func (n *node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, err := startProc(n.name, n.bin, []string{"serve", "--config", n.config, "--log-level", "warn"}, n.env, n.logPath)
	if err != nil {
		return err
	}
	if err := waitHTTP(p, n.url()+"/readyz", 30*time.Second); err != nil {
		p.kill()
		return err
	}
	n.cur = p
	return nil
}

func (n *node) kill9() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil {
		n.cur.kill()
		n.cur = nil
	}
}

func (n *node) stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return nil
	}
	err := n.cur.term(30 * time.Second)
	n.cur = nil
	return err
}

// runOnce executes the binary once (migrate, rebuild) and returns its standard output.
func runOnce(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("exit %d", ee.ExitCode())
		}
		return stdout.Bytes(), fmt.Errorf("switchboard %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
