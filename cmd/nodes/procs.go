package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"switchboard/cmd/internal/harness"
)

// node is one `switchboard serve` on its own address, killed and restarted by the run.
type node struct {
	name, bin, config, addr, logPath string
	env                              []string

	mu  sync.Mutex
	cur *harness.Proc
}

func (n *node) url() string { return "http://" + n.addr }

// start runs the node and waits until it is ready (/readyz): a deploy moves on to the
// next node only then.
func (n *node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, err := harness.Start(n.name, n.bin, []string{"serve", "--config", n.config, "--log-level", "warn"}, n.env, n.logPath)
	if err != nil {
		return err
	}
	if err := harness.WaitHTTP(p, n.url()+"/readyz", 30*time.Second); err != nil {
		p.Kill()
		return err
	}
	n.cur = p
	return nil
}

func (n *node) kill9() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil {
		n.cur.Kill()
		n.cur = nil
	}
}

func (n *node) stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return nil
	}
	// A graceful stop must exit 0.
	err := n.cur.Term(30 * time.Second)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%s exited after SIGTERM with %w (see %s)", n.name, err, n.cur.LogPath)
	}
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
