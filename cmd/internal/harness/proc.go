// Package harness holds what the harnesses that drive the real switchboard binary share
// (cmd/soak, cmd/nodes, cmd/bench): building it, running it and its emulator as child
// processes, and comparing the tables a run left with those a rebuild makes.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Build compiles the switchboard command into dir, the way an operator gets it, so a
// harness drives the real binary and not test wiring.
func Build(ctx context.Context, dir string, race bool) (string, error) {
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

// FreeAddr reserves a loopback port and releases it for a child process to listen on;
// a child restarted on the same address keeps its URL.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("reserve a loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Proc is one run of a child process; its output goes to a log file of the run.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// Start runs bin with args and env, its output appended to logPath.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
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
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the child exited (nil for status 0); meaningful once Done is closed.
func (p *Proc) Err() error { return p.err }

// Exited reports whether the child has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL (kill -9) to this process, by its own pid, and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and waits up to grace, then kills. It returns an error when the
// child had to be killed, and otherwise how it exited (Err): a caller that requires a
// clean exit checks it, one that does not ignores an *exec.ExitError.
func (p *Proc) Term(grace time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed (see %s)", p.Name, grace, p.LogPath)
	}
	return p.err
}

// WaitHTTP polls url until it answers 200, the process exits or timeout passes.
func WaitHTTP(p *Proc, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited before it served %s: %v (see %s)", p.Name, url, p.err, p.LogPath)
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
	return fmt.Errorf("%s did not serve %s within %s (see %s)", p.Name, url, timeout, p.LogPath)
}
