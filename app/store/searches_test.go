package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// blocking starts a search of user that runs until its release is closed, and returns when it runs.
func blocking(t *testing.T, l *searchLimit, user int64) (release chan struct{}, done chan error) {
	t.Helper()
	release, done, running := make(chan struct{}), make(chan error, 1), make(chan struct{})
	go func() {
		done <- l.run(context.Background(), user, func(ctx context.Context) error {
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	return release, done
}

// TestSearchLimitPerUser: a user's third concurrent search waits for one of the first two;
// another user's search does not wait.
func TestSearchLimitPerUser(t *testing.T) {
	t.Parallel()
	l := newSearchLimit(time.Minute, 16)
	r1, d1 := blocking(t, l, 1)
	r2, d2 := blocking(t, l, 1)
	third := make(chan struct{})
	thirdDone := make(chan error, 1)
	go func() {
		thirdDone <- l.run(context.Background(), 1, func(ctx context.Context) error { close(third); return nil })
	}()
	// Another user is served while user 1's third search waits.
	if err := l.run(context.Background(), 2, func(ctx context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-third:
		t.Fatal("a user's third search ran beside their two others")
	default:
	}
	close(r1)
	if err := <-d1; err != nil {
		t.Fatal(err)
	}
	<-third
	if err := <-thirdDone; err != nil {
		t.Fatal(err)
	}
	close(r2)
	<-d2
	if len(l.users) != 0 {
		t.Errorf("%d users' slots left behind", len(l.users))
	}
}

// TestSearchLimitPool: searches take at most half of the pool, whoever runs them.
func TestSearchLimitPool(t *testing.T) {
	t.Parallel()
	l := newSearchLimit(time.Minute, 4) // 2 searches at once
	r1, _ := blocking(t, l, 1)
	r2, _ := blocking(t, l, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ran := false
	err := l.run(ctx, 3, func(ctx context.Context) error { ran = true; return nil })
	if ran || err == nil {
		t.Errorf("a third search ran with half of a 4-connection pool busy (err %v)", err)
	}
	close(r1)
	close(r2)
}

// TestSearchLimitBudget: a search that outlives database.search_timeout, waiting included, is
// ErrSearchTooSlow (the API's 503 asking to narrow it), not a generic failure.
func TestSearchLimitBudget(t *testing.T) {
	t.Parallel()
	l := newSearchLimit(50*time.Millisecond, 16)
	err := l.run(context.Background(), 1, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, ErrSearchTooSlow) {
		t.Errorf("slow search: %v, want ErrSearchTooSlow", err)
	}
	r1, _ := blocking(t, l, 1)
	r2, _ := blocking(t, l, 1)
	if err := l.run(context.Background(), 1, func(ctx context.Context) error { return nil }); !errors.Is(err, ErrSearchTooSlow) {
		t.Errorf("waiting past the budget: %v, want ErrSearchTooSlow", err)
	}
	close(r1)
	close(r2)
}
