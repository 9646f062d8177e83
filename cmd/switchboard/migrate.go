package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the read before migrating

	"switchboard/adapters/config"
	"switchboard/adapters/hubspot"
	"switchboard/projections"
)

// cmdMigrate applies every migration set serve applies at start — the event log's
// ("events"), the followers' checkpoints and partition leases ("checkpoints"), the read
// side's ("projections"), and the OAuth refresh-token table — and exits, so a deploy can migrate once before it starts any
// node. Serve still migrates at start; on PostgreSQL both queue on one advisory lock,
// so running this beside starting nodes is safe, and a second run changes nothing.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "migrate --config F   apply the database migrations and exit", stderr)
	path := fs.String("config", "switchboard.yaml", "configuration file")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "switchboard migrate: unexpected argument %q; migrate takes only --config\n", rest[0])
		return errUsage
	}
	cfg, err := config.LoadForStore(*path)
	if err != nil {
		return err
	}
	before, err := appliedMigrations(ctx, cfg)
	if err != nil {
		return err
	}
	// Opening the store applies the log's and the checkpoints' sets; the runner applies
	// the read side's. These are the same calls serve makes, so the two cannot drift.
	st, err := openStore(cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := projections.NewRunner(st, st, nil); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The OAuth refresh-token table has no versioned migration yet; serve creates it at
	// first use, and migrate makes it now so no node has to.
	if err := hubspot.NewSQLTokenStore(st.DB(), "").CreateTable(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	after, err := readMigrations(ctx, st.DB())
	if err != nil {
		return err
	}
	sets := map[string]int{}
	applied := 0
	for _, m := range after {
		sets[m.set] = max(sets[m.set], m.version)
		if !before[m.key()] {
			applied++
			fmt.Fprintf(stderr, "applied %s %04d %s\n", m.set, m.version, m.name)
		}
	}
	names := make([]string, 0, len(sets))
	for s := range sets {
		names = append(names, s)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, s := range names {
		parts[i] = fmt.Sprintf("%s %d", s, sets[s])
	}
	fmt.Fprintf(stdout, "%s store migrated: %d migrations applied now; versions: %s\n", cfg.Store.Driver, applied, strings.Join(parts, ", "))
	return nil
}

type appliedMigration struct {
	set     string
	version int
	name    string
}

func (m appliedMigration) key() string { return fmt.Sprintf("%s/%d", m.set, m.version) }

// appliedMigrations is what the store records before this run, read on a plain
// connection because opening the store migrates it. A database without
// schema_migrations (or a SQLite file not made yet) has none.
func appliedMigrations(ctx context.Context, cfg *config.Config) (map[string]bool, error) {
	out := map[string]bool{}
	var driver, dsn string
	switch cfg.Store.Driver {
	case "sqlite":
		if _, err := os.Stat(cfg.Store.DSN); errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		driver, dsn = "sqlite3", "file:"+cfg.Store.DSN+"?mode=ro"
	case "postgres":
		driver, dsn = "pgx", cfg.Store.DSN
	default:
		return nil, fmt.Errorf("%s: store.driver %q: want sqlite or postgres", cfg.Path, cfg.Store.Driver)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("migrate: open the %s store to read its migrations: %w", cfg.Store.Driver, err)
	}
	defer db.Close()
	var exists bool
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`
	if cfg.Store.Driver == "postgres" {
		q = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	}
	if err := db.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrate: read the %s store's migrations: %w", cfg.Store.Driver, err)
	}
	if !exists {
		return out, nil
	}
	ms, err := readMigrations(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		out[m.key()] = true
	}
	return out, nil
}

func readMigrations(ctx context.Context, db *sql.DB) ([]appliedMigration, error) {
	rows, err := db.QueryContext(ctx, `SELECT set_name, version, name FROM schema_migrations ORDER BY set_name, version`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.set, &m.version, &m.name); err != nil {
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return out, nil
}
