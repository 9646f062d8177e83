// Package conformance runs the event store conformance suite (eventstoretest), with its
// checkpoint and projection suites, against every backend switchboard ships — SQLite
// and PostgreSQL — from one test file, so that both are held to the same contract by
// the same calls. It has no code of its own.
package conformance
