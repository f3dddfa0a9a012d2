package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescerAnswersEachCall: concurrent calls share batches, and each gets its own answer or
// its own error.
func TestCoalescerAnswersEachCall(t *testing.T) {
	t.Parallel()
	var batches atomic.Int64
	c := newCoalescer(time.Minute, func(ctx context.Context, keys []int, out []string, errs []error) error {
		batches.Add(1)
		for i, k := range keys {
			if k%7 == 0 {
				errs[i] = ErrNotFound
			} else {
				out[i] = fmt.Sprint(k * 2)
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for k := 1; k <= 500; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.do(context.Background(), k)
			switch {
			case k%7 == 0 && !errors.Is(err, ErrNotFound):
				t.Errorf("key %d: %q %v, want ErrNotFound", k, got, err)
			case k%7 != 0 && (err != nil || got != fmt.Sprint(k*2)):
				t.Errorf("key %d: %q %v, want %d", k, got, err, k*2)
			}
		}()
	}
	wg.Wait()
	t.Logf("500 calls in %d batches", batches.Load())
}

// TestCoalescerNeverAnswersFromAnEarlierQuery: a call made while a batch's query runs is answered
// by a query that starts after it, never by the one already running (which may not see a write
// or a logout that was committed just before the call).
func TestCoalescerNeverAnswersFromAnEarlierQuery(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	var batch atomic.Int64
	c := newCoalescer(time.Minute, func(ctx context.Context, keys []string, out []int64, errs []error) error {
		n := batch.Add(1)
		started <- struct{}{}
		if n == 1 {
			<-release
		}
		for i := range keys {
			out[i] = n
		}
		return nil
	})
	c.maxRun = 1
	first := make(chan int64)
	go func() { n, _ := c.do(context.Background(), "first"); first <- n }()
	<-started // batch 1 runs
	second := make(chan int64)
	go func() { n, _ := c.do(context.Background(), "second"); second <- n }()
	for { // wait until the second call is queued
		c.mu.Lock()
		queued := len(c.pending)
		c.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if n := <-first; n != 1 {
		t.Errorf("first call answered by batch %d, want 1", n)
	}
	if n := <-second; n != 2 {
		t.Errorf("call made during batch 1 answered by batch %d, want 2", n)
	}
}

// TestCoalescerErrors: a failed query fails every call of its batch; a caller that gives up gets
// its context's error and the others are still answered.
func TestCoalescerErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	c := newCoalescer(time.Minute, func(ctx context.Context, keys []int, out []int, errs []error) error { return boom })
	if _, err := c.do(context.Background(), 1); !errors.Is(err, boom) {
		t.Errorf("err %v, want boom", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	block := make(chan struct{})
	slow := newCoalescer(time.Minute, func(ctx context.Context, keys []int, out []int, errs []error) error {
		<-block
		return nil
	})
	if _, err := slow.do(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(block)
	if _, err := slow.do(context.Background(), 2); err != nil {
		t.Errorf("next caller: %v", err)
	}
}

// TestCoalescerOverlapsOnlyALongQueue: while a batch runs, calls wait for the next one until
// overlapAt of them wait; then a second batch runs beside the first and takes them all. A third
// never runs beside two; a batch that ends beside another with fewer than overlapAt waiting
// leaves them to the other (one larger batch, not two small ones); every call is answered.
func TestCoalescerOverlapsOnlyALongQueue(t *testing.T) {
	t.Parallel()
	var releases [8]chan struct{}
	for i := range releases {
		releases[i] = make(chan struct{})
	}
	var batches atomic.Int64
	started := make(chan int, len(releases)) // each batch's size, as it starts
	c := newCoalescer(time.Minute, func(ctx context.Context, keys []int, out []int, errs []error) error {
		n := batches.Add(1)
		started <- len(keys)
		<-releases[n-1]
		for i, k := range keys {
			out[i] = k
		}
		return nil
	})
	var wg sync.WaitGroup
	call := func(k int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := c.do(context.Background(), k); err != nil || got != k {
				t.Errorf("call %d: %d %v", k, got, err)
			}
		}()
	}
	state := func() (pending, running int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending), c.running
	}
	// A stranded call would hang the test: these give up after a minute (a bound on a hang, not
	// on speed).
	deadline := time.Now().Add(time.Minute)
	nextBatch := func() int {
		select {
		case n := <-started:
			return n
		case <-time.After(time.Until(deadline)):
			t.Fatal("no batch started")
			return 0
		}
	}
	waitFor := func(pending, running int) {
		for {
			if time.Now().After(deadline) {
				p, r := state()
				t.Fatalf("waiting for %d pending and %d running: %d and %d", pending, running, p, r)
			}
			select {
			case n := <-started:
				t.Fatalf("a batch of %d calls started, waiting for %d pending and %d running", n, pending, running)
			default:
			}
			if p, r := state(); p == pending && r == running {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}

	call(0)
	if n := nextBatch(); n != 1 {
		t.Fatalf("first batch of %d calls, want 1", n)
	}
	for k := 1; k < c.overlapAt; k++ {
		call(k)
	}
	waitFor(c.overlapAt-1, 1) // no second batch yet
	call(c.overlapAt)
	if n := nextBatch(); n != c.overlapAt {
		t.Fatalf("second batch of %d calls, want the %d waiting", n, c.overlapAt)
	}
	for k := c.overlapAt + 1; k <= 3*c.overlapAt; k++ {
		call(k)
	}
	waitFor(2*c.overlapAt, 2) // no third batch
	// Batch 1 ends: it takes what waits (a full overlapAt and more).
	close(releases[0])
	if n := nextBatch(); n != 2*c.overlapAt {
		t.Fatalf("third batch of %d calls, want the %d waiting", n, 2*c.overlapAt)
	}
	call(100)
	call(101)
	waitFor(2, 2)
	// Batch 2 ends beside batch 3 with two calls waiting: it leaves them to batch 3's loop.
	close(releases[1])
	waitFor(2, 1)
	close(releases[2])
	if n := nextBatch(); n != 2 {
		t.Fatalf("fourth batch of %d calls, want the 2 waiting", n)
	}
	close(releases[3])
	wg.Wait()
	waitFor(0, 0) // a loop ends on its next look at the queue, just after its batch's answers
}
