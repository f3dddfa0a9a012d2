package store

import (
	"context"
	"math"
	"time"
)

// Hit counts one request in bucket's current fixed window of length window and returns the count
// including this one and the time left until the window ends. The window is computed from the
// database clock and counted in one upsert, so every replica shares the same counters.
func (s *Store) Hit(ctx context.Context, bucket string, window time.Duration) (int, time.Duration, error) {
	secs := math.Max(1, math.Round(window.Seconds()))
	var hits int
	var left float64
	err := s.db.QueryRow(ctx,
		`INSERT INTO rate_limits (bucket, window_start, hits)
		 VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), 1)
		 ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
		 RETURNING hits, extract(epoch FROM window_start + make_interval(secs => $2) - now())::float8`,
		bucket, secs).Scan(&hits, &left)
	if err != nil {
		return 0, 0, err
	}
	return hits, time.Duration(left * float64(time.Second)), nil
}

// SweepRateLimits deletes windows that started more than age ago and returns how many; age must
// exceed the longest window in use.
func (s *Store) SweepRateLimits(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => $1)`, age.Seconds())
	return tag.RowsAffected(), err
}

// Unhit takes back one request counted in bucket's current window (a login that succeeded does not
// count against the limits). A window that already ended is left alone.
func (s *Store) Unhit(ctx context.Context, bucket string, window time.Duration) error {
	secs := math.Max(1, math.Round(window.Seconds()))
	_, err := s.db.Exec(ctx,
		`UPDATE rate_limits SET hits = hits - 1
		 WHERE bucket = $1 AND window_start = to_timestamp(floor(extract(epoch FROM now()) / $2) * $2) AND hits > 0`,
		bucket, secs)
	return err
}

// ClearLoginLimits forgets the failed logins counted for a username (its digest, as the auth
// service names its buckets), from every address: an administrator reset its password.
func (s *Store) ClearLoginLimits(ctx context.Context, digest string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM rate_limits WHERE bucket = 'login:user:' || $1 OR bucket LIKE 'login:pair:' || $1 || ':%'`, digest)
	return err
}
