package loaddriver

import (
	"math"
	"time"
)

// pacer schedules the units of an open-loop run at a constant rate. Unit i is due at
// start + i × every, whatever happened to the units before it: a slow answer does not
// delay the next send (that would hide the slowness, the "coordinated omission" of
// closed-loop drivers), and latency is counted from the time a unit was due.
type pacer struct {
	start time.Time
	// perUnit is the seconds between two units: the mean unit size over the rate.
	perUnit float64
}

// newPacer paces units of meanUnit messages on average so that rate messages are
// offered per second.
func newPacer(start time.Time, rate, meanUnit float64) pacer {
	return pacer{start: start, perUnit: meanUnit / rate}
}

// at is when unit i is due.
func (p pacer) at(i int) time.Time {
	return p.start.Add(time.Duration(float64(i) * p.perUnit * float64(time.Second)))
}

// due is how many units are due at now (units 0 .. due-1).
func (p pacer) due(now time.Time) int {
	el := now.Sub(p.start).Seconds()
	if el < 0 {
		return 0
	}
	// A unit due exactly at now counts; the small slack absorbs the float rounding of at.
	return int(math.Floor(el/p.perUnit+1e-9)) + 1
}
