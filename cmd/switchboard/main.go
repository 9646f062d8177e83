// Command switchboard resolves the sender of every inbound customer message to the
// right HubSpot contact and lands the message in the right HubSpot inbox.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"switchboard/adapters/config"
	"switchboard/domain"
)

const usage = `switchboard — HubSpot contact resolution for inbound messages

Usage:
  switchboard serve    --config F                    run the service
  switchboard migrate  --config F                    apply the database migrations and exit
  switchboard rebuild  --config F [projection...]    rebuild projections from the event log
  switchboard copy-store --from F --to G             copy F's event log into G's empty store
                                                     (SQLite to PostgreSQL), rebuild G's projections
  switchboard audit    --config F message CHANNEL MESSAGE_ID [--json]
  switchboard audit    --config F sender CHANNEL IDENTIFIER [--json]
  switchboard audit    --config F contact WORKSPACE CONTACT_ID [--json]
  switchboard check    --config F                    validate the configuration and HubSpot
  switchboard hubspot create-key-property --config F [--workspace W]
                                                     create the unique create key property in HubSpot
  switchboard dead-letters --config F [retry ID... | retry --all]
                                                     list dead letters, or ask for their retry
  switchboard link       --config F CHANNEL IDENTIFIER CONTACT_ID --reason R
                                                     always resolve the identifier to that contact
  switchboard never-link --config F CHANNEL IDENTIFIER CONTACT_ID --reason R
                                                     never resolve the identifier to that contact
  switchboard unpin      --config F CHANNEL IDENTIFIER [CONTACT_ID]
                                                     remove the corrections of the identifier
  switchboard corrections --config F [--json]        list the corrections in force
  switchboard erase      --config F CHANNEL IDENTIFIER --reason R
  switchboard erase      --config F --contact WORKSPACE CONTACT_ID --reason R
                                                     erase a person's data (crypto-shredding)
  switchboard simulate --config NEW [--since T] [--json]
                                                     what if NEW had applied: replay, HubSpot read-only
  switchboard hubspot setup --config F [--workspace ID]
                                                     register the custom channel, connect the
                                                     channel accounts, create the properties
  switchboard reconcile --config F [--workspace ID]  re-check cached match keys against HubSpot
  switchboard dev hubspot --listen ADDR              run the HubSpot emulator
  switchboard dev demo    --config F                 run the emulator and the service together
  switchboard dev send    --config F --channel ID --from X --text T
                                                     send a signed sample webhook to a running service
  switchboard dev load    --config F (--clients N | --rate R) (--duration D | --count N)
                                                     offer a running service load and measure it

Every command takes --help.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "copy-store":
		err = cmdCopyStore(ctx, args[1:], stdout, stderr)
	case "rebuild":
		err = cmdRebuild(ctx, args[1:], stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, args[1:], stdout, stderr)
	case "check":
		err = cmdCheck(ctx, args[1:], stdout, stderr)
	case "dead-letters":
		err = cmdDeadLetters(ctx, args[1:], stdout, stderr)
	case "link", "never-link", "unpin":
		err = cmdCorrect(ctx, args[0], args[1:], stdout, stderr)
	case "reconcile":
		err = cmdReconcile(ctx, args[1:], stdout, stderr)
	case "corrections":
		err = cmdCorrections(ctx, args[1:], stdout, stderr)
	case "erase":
		err = cmdErase(ctx, args[1:], stdout, stderr)
	case "simulate":
		err = cmdSimulate(ctx, args[1:], stdout, stderr)
	case "hubspot":
		err = cmdHubSpot(ctx, args[1:], stdout, stderr)
	case "dev":
		err = cmdDev(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, config.ErrInvalid):
		// SPEC §5: bad configuration is bad usage, exit 2, not a failure at run time.
		fmt.Fprintln(stderr, "switchboard:", err)
		return 2
	}
	if args[0] == "serve" {
		// serve's standard error is its log, which names nobody.
		fmt.Fprintln(stderr, "switchboard:", err)
	} else {
		// A one-off command answers the operator who ran it: HubSpot's own words say
		// what to fix (a setup refused, a token revoked).
		fmt.Fprintln(stderr, "switchboard:", domain.ErrorWithDetail(err))
	}
	return 1
}

var errUsage = errors.New("usage")

// newFlags makes a flag set whose --help prints the command's synopsis.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: switchboard %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may stand before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, os.Getenv)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "serve --config F", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, newLogger(stderr, *level), nil)
}

// serve runs the service on cfg until ctx ends; ready, when not nil, receives the
// listening address once the service accepts requests.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, ready chan<- string) error {
	svc, err := newService(cfg, serviceOptions{Logger: log})
	if err != nil {
		return err
	}
	defer svc.close()
	if cfg.AdminToken == "" {
		log.Warn("no admin token configured: the /v1 API refuses every request", "admin_token_env", cfg.AdminTokenEnv)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", cfg.Path, cfg.Listen, err)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	return svc.run(ctx, ln)
}
