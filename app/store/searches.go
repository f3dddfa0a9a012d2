package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrSearchTooSlow is a search (a list with ?search=) that did not finish within its time budget,
// waiting for its turn included. Nothing is wrong with the database: the search should be narrower.
var ErrSearchTooSlow = errors.New("the search did not finish within database.search_timeout")

// searchLimit bounds what searches can take. A search asks the trigram indexes (migration 0005)
// when it can, but a term of one or two characters, a term matching many rows, or a database
// without pg_trgm still reads the caller's rows, so on large data it is the one request that can
// hold a pool connection for long: each gets its own time budget, at most half of the pool runs searches at once, and
// one user at most searchesPerUser of them, so one user's searches queue behind each other
// instead of starving everybody else's requests of connections.
type searchLimit struct {
	timeout time.Duration
	all     chan struct{}

	mu    sync.Mutex
	users map[int64]*userSearches
}

type userSearches struct {
	slots chan struct{}
	refs  int
}

const searchesPerUser = 2

// SearchTimeout sets the time budget of searches (database.search_timeout; 0 keeps the query
// timeout). Call it before serving.
func (s *Store) SearchTimeout(d time.Duration) {
	if d > 0 {
		s.searches.timeout = d
	}
}

func newSearchLimit(timeout time.Duration, poolSize int) *searchLimit {
	return &searchLimit{timeout: timeout, all: make(chan struct{}, max(1, poolSize/2)), users: map[int64]*userSearches{}}
}

// run runs fn as a search of user (0: a search not tied to one user, such as the shared doctor
// directory) within the limits, with ctx bounded by the search budget.
func (l *searchLimit) run(ctx context.Context, user int64, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	if user != 0 {
		l.mu.Lock()
		u := l.users[user]
		if u == nil {
			u = &userSearches{slots: make(chan struct{}, searchesPerUser)}
			l.users[user] = u
		}
		u.refs++
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			if u.refs--; u.refs == 0 {
				delete(l.users, user)
			}
			l.mu.Unlock()
		}()
		select {
		case u.slots <- struct{}{}:
			defer func() { <-u.slots }()
		case <-ctx.Done():
			return l.err(ctx)
		}
	}
	select {
	case l.all <- struct{}{}:
		defer func() { <-l.all }()
	case <-ctx.Done():
		return l.err(ctx)
	}
	err := fn(ctx)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrSearchTooSlow
	}
	return err
}

func (l *searchLimit) err(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrSearchTooSlow
	}
	return ctx.Err()
}
