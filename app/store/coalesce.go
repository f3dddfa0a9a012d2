package store

import (
	"context"
	"sync"
	"time"
)

// coalescer answers many concurrent calls of one kind with one query: calls that arrive while its
// previous queries run wait, and the next query takes them all (natural batching, like a group
// commit). It is not a cache: every call is answered by a query that started after the call did,
// so a request sees everything committed before it began (a logout, a deactivation, a write).
//
// One statement per batch means one round trip and one snapshot for the whole batch, where one
// query per request costs PostgreSQL a wake-up, a parse of the protocol messages and a network
// write each time; under load that is most of the database's work for a primary-key read.
type coalescer[K, V any] struct {
	// query answers keys[i] in out[i] and errs[i] (both have len(keys)); an error it returns fails
	// every call of the batch.
	query    func(ctx context.Context, keys []K, out []V, errs []error) error
	timeout  time.Duration
	maxBatch int
	// maxRun is how many batches of one kind may run at once, and overlapAt how many calls must
	// wait before a batch starts beside one that runs. Large batches are cheap per key
	// (PostgreSQL starts an executor per statement, the server scans per batch), so one batch at
	// a time, which lets the most calls gather, costs the least CPU per request. But the CPUs
	// then sit idle while the calls behind a batch wait: 12-18 % of the machine under GET one
	// patient (go run ./bench). A second batch once 8 calls wait left 5-9 % idle, for about a
	// tenth more of PostgreSQL's CPU per request: GET one patient +5 % on average over 16 rounds
	// (-13 % to +26 % in a round, on a noisy machine), a patient's doctors +6-20 % in each of 9. A second batch at once (overlapAt 1) made
	// the batches small and cost more than it gained; 4 and 16 measured like 8. A clinic's few
	// concurrent requests never reach it. Only reads overlap (Store.New).
	maxRun, overlapAt int

	mu      sync.Mutex
	pending []*coalescedCall[K, V]
	running int
}

type coalescedCall[K, V any] struct {
	key  K
	val  V
	err  error
	done chan struct{}
}

func newCoalescer[K, V any](timeout time.Duration, query func(ctx context.Context, keys []K, out []V, errs []error) error) *coalescer[K, V] {
	return &coalescer[K, V]{query: query, timeout: timeout, maxBatch: 256, maxRun: 2, overlapAt: 8}
}

// do queues key and waits for its answer, or for ctx to end (the answer is then dropped).
func (c *coalescer[K, V]) do(ctx context.Context, key K) (V, error) {
	call := &coalescedCall[K, V]{key: key, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, call)
	start := c.running == 0 || (c.running < c.maxRun && len(c.pending) >= c.overlapAt)
	if start {
		c.running++
	}
	c.mu.Unlock()
	if start {
		go c.loop()
	}
	return call.wait(ctx)
}

// wait is the answer of the call, or ctx's error if ctx ends first.
func (call *coalescedCall[K, V]) wait(ctx context.Context) (V, error) {
	select {
	case <-call.done:
		return call.val, call.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// loop runs batches until no call is waiting, or, beside another loop, until fewer than
// overlapAt are (the other loop takes them: the last loop never leaves a call behind).
func (c *coalescer[K, V]) loop() {
	for {
		c.mu.Lock()
		n := min(len(c.pending), c.maxBatch)
		if n == 0 || (c.running > 1 && n < c.overlapAt) {
			c.running--
			c.mu.Unlock()
			return
		}
		batch := make([]*coalescedCall[K, V], n)
		copy(batch, c.pending)
		rest := copy(c.pending, c.pending[n:])
		clear(c.pending[rest:])
		c.pending = c.pending[:rest]
		c.mu.Unlock()
		c.run(batch)
	}
}

func (c *coalescer[K, V]) run(batch []*coalescedCall[K, V]) {
	keys := make([]K, len(batch))
	for i, call := range batch {
		keys[i] = call.key
	}
	out := make([]V, len(batch))
	errs := make([]error, len(batch))
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	err := c.query(ctx, keys, out, errs)
	cancel()
	for i, call := range batch {
		if err != nil {
			call.err = err
		} else {
			call.val, call.err = out[i], errs[i]
		}
		close(call.done)
	}
}
