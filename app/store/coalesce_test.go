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
