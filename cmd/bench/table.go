package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

type results struct {
	began               time.Time
	elapsed             time.Duration
	dir, machine        string
	rawBefore, rawAfter []benchResult
	hot                 []benchResult
	load                []loadResult
	// backlog is the backlog run (nil: not run).
	backlog *backlogResult
	// nodes is the several-nodes comparison (nil: not run, no -postgres).
	nodes *nodesResult
	// rebuild is the rebuild against the raw scan (nil: not run).
	rebuild *rebuildResult
}

const (
	rawOne   = "BenchmarkRawInsertOneEvent"
	rawGroup = "BenchmarkRawGroupCommit"
)

// ceiling is a raw figure the others are divided by.
type ceiling struct {
	name     string
	eventsPS float64
	nsPerOp  float64
}

func rawCeiling(rs []benchResult, name string) (ceiling, bool) {
	r, ok := find(rs, name)
	if !ok || r.Metrics["events/s"] <= 0 {
		return ceiling{}, false
	}
	return ceiling{name: name, eventsPS: r.Metrics["events/s"], nsPerOp: r.Metrics["ns/op"]}, true
}

// table renders every figure of the run with its ratio to the raw ceiling beside it.
func (r *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "switchboard bench, %s UTC, %s; %s\n\n", r.began.UTC().Format("2006-01-02 15:04"), r.machine, r.elapsed.Round(time.Second))
	one, okOne := rawCeiling(r.rawBefore, rawOne)
	group, okGroup := rawCeiling(r.rawBefore, rawGroup)
	// The load runs are measured against the best the disk can do: grouped commits when
	// the tree has their benchmark, one event per commit otherwise.
	best := one
	if okGroup {
		best = group
	}
	ratio := func(v float64, c ceiling, ok bool) string {
		if !ok || c.eventsPS <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.3f × %s", v/c.eventsPS, short(c.name))
	}
	commits := func(ms float64) string {
		if !okOne || ms <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f raw commits", ms*1e6/one.nsPerOp)
	}
	fmt.Fprintf(&b, "| part | figure | value | ratio to the raw ceiling |\n|---|---|---|---|\n")
	row := func(part, fig, val, rat string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", part, fig, val, rat) }

	for _, set := range []struct {
		when string
		rs   []benchResult
	}{{"raw SQLite", r.rawBefore}, {"raw SQLite, after the load runs", r.rawAfter}} {
		if set.rs == nil {
			continue
		}
		for _, name := range []string{rawOne, rawGroup} {
			res, ok := find(set.rs, name)
			if !ok {
				if set.when == "raw SQLite" {
					row(set.when, "`"+name+"`", "not in this tree", "—")
				}
				continue
			}
			row(set.when, "`"+name+"`", fmt.Sprintf("%s events/s (%s ns/op)", num(res.Metrics["events/s"]), num(res.Metrics["ns/op"])),
				ratio(res.Metrics["events/s"], one, okOne))
		}
	}
	for _, h := range r.hot {
		if h.Name == rawOne || h.Name == rawGroup {
			continue // the ceilings have their own rows
		}
		val, tp := fmt.Sprintf("%s ns/op", num(h.Metrics["ns/op"])), 0.0
		for _, unit := range []string{"events/s", "commands/s"} {
			if v, ok := h.Metrics[unit]; ok {
				val += fmt.Sprintf(", %s %s", num(v), unit)
				tp = v
			}
		}
		if tp == 0 && h.Metrics["ns/op"] > 0 {
			tp = 1e9 / h.Metrics["ns/op"]
		}
		if a, ok := h.Metrics["allocs/op"]; ok {
			val += fmt.Sprintf(", %s allocs/op", num(a))
		}
		row("Go benchmark", "`"+h.Name+"` ("+strings.TrimPrefix(h.Pkg, "switchboard/")+")", val, ratio(tp, one, okOne))
	}

	if r.rebuild != nil {
		r.rebuild.rows(row)
	}
	rss := map[string]int64{}
	var stacks []string
	for _, l := range r.load {
		rep := l.rep
		limits := "limits kept"
		if l.lifted {
			limits = "limits lifted"
		}
		part := fmt.Sprintf("load: %s (%s)", l.name, limits)
		shape := fmt.Sprintf("%d clients", rep.Clients)
		if rep.Rate > 0 {
			shape = fmt.Sprintf("%g/s offered", rep.Rate)
		}
		row(part, "acknowledged messages/s ("+shape+")", fmt.Sprintf("%s (%d of %d sent; %.2f events/message)", num(rep.AckPerSec), rep.Acknowledged, rep.Sent, l.eventsPerMsg),
			ratio(rep.AckPerSec*l.eventsPerMsg, best, okOne || okGroup)+" (events/s)")
		lat := rep.AckLatency
		row(part, "acknowledgment p50 / p99 / p99.9 / max", fmt.Sprintf("%.1f / %.1f / %.1f / %.1f ms", lat.P50, lat.P99, lat.P999, lat.Max), "p99 = "+commits(lat.P99))
		errs := "none"
		if len(rep.Errors) > 0 {
			var parts []string
			for k, v := range rep.Errors {
				parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
			}
			sort.Strings(parts)
			errs = strings.Join(parts, ", ")
		}
		row(part, "errors", errs, "—")
		if e := rep.Emulator; e != nil {
			row(part, "acknowledgment → inbox p50 / p99", fmt.Sprintf("%.0f / %.0f ms (%d published, %d not within %.0f s)", e.AckToInbox.P50, e.AckToInbox.P99, e.Published, e.Unpublished, e.SettleWait),
				"p99 = "+commits(e.AckToInbox.P99))
			row(part, "HubSpot calls per message", fmt.Sprintf("%s; CRM %.3f", ratios(e.CallsPerMessage), e.CRMCallsPerMsg), "—")
			if rep.NewSenders > 0 {
				row(part, fmt.Sprintf("HubSpot CRM calls per new sender (%d)", rep.NewSenders), ratios(e.CallsPerNewSender), "—")
			}
			row(part, "429 answers; peak requests in 10 s; peak searches in 1 s", fmt.Sprintf("%d; %d; %d", e.RateLimited, e.MaxTenSeconds, e.MaxSearchSecond), "—")
		}
		if l.writer != nil {
			row(part, "SQLite writer over the run", l.writer.String(), "—")
		}
		if _, seen := rss[l.stack]; !seen {
			stacks = append(stacks, l.stack)
		}
		rss[l.stack] = l.peakRSS
	}
	if r.backlog != nil {
		r.backlog.rows(row)
	}
	for _, s := range stacks {
		row("serve", fmt.Sprintf("peak RSS (VmHWM), limits-%s stack", s), fmt.Sprintf("%.1f MB", float64(rss[s])/1024), "—")
	}
	if okOne {
		fmt.Fprintf(&b, "\nRatios: throughput ÷ the raw ceiling's events/s (load runs: acknowledged messages/s × the store's events per message ÷ %s); latencies as a count of raw one-event commits (%s ns each). Raw output: %s\n",
			short(best.name), num(one.nsPerOp), r.dir)
	}
	if r.nodes != nil {
		b.WriteString(r.nodes.table())
	}
	return b.String()
}

func short(name string) string { return strings.TrimPrefix(name, "Benchmark") }

func ratios(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.3f", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// num prints a figure with thousands separators and no false precision.
func num(v float64) string {
	if v < 100 {
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}

// machine describes the host: CPUs, model, memory, load average at the start.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.1f GB RAM", float64(kb)/1024/1024)
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = ", load average " + strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s%s, %s %s/%s", runtime.NumCPU(), model, mem, load, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
