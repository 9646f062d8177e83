package command

import "context"

// ErasureSignal says when a subject was erased: the channel Erasures returns is closed
// at the next erasure this process learns of (eventstore/datakeys.Keeper).
type ErasureSignal interface {
	Erasures() <-chan struct{}
}

// untilErasure is ctx, cancelled as well at the next erasure sig reports (never, for a
// nil sig). A handler that read a message and then waits on HubSpot (the client retries
// a failing call for up to a minute) runs under it: when someone is erased meanwhile,
// the call is abandoned and the handler's retry reads the message again, erased if it
// was that person's (rule 17). The signal is taken here, before the handler reads
// anything, so an erasure between the read and the call is seen too.
func untilErasure(ctx context.Context, sig ErasureSignal) (context.Context, context.CancelFunc) {
	if sig == nil {
		return ctx, func() {}
	}
	erased := sig.Erasures()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-erased:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
