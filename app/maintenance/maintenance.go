// Package maintenance runs the appliance's periodic clean-ups in one loop that serve owns, instead
// of at random inside requests: a request pays only for its own work.
package maintenance

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/store"
)

// Job is one periodic task. Run's error is logged; the job runs again at its next turn.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context) error
}

// firstWithin bounds the delay before a job's first run: soon after start, once start-up is over.
const firstWithin = 30 * time.Second

// Run runs every job in its own goroutine until ctx ends, then waits for the runs in progress
// and returns. A job runs first after a random delay of up to min(Every, 30 s), then every Every
// give or take 10 %, so replicas started together do not all clean up at the same moment. Errors
// and panics are logged, never fatal.
func Run(ctx context.Context, log *slog.Logger, jobs []Job) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.Every <= 0 || j.Run == nil {
			log.Error("maintenance: job not started: it needs a positive interval and a function", "job", j.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx, log, j)
		}()
	}
	wg.Wait()
}

func loop(ctx context.Context, log *slog.Logger, j Job) {
	timer := time.NewTimer(firstDelay(j.Every))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		begin := time.Now()
		if err := runOnce(ctx, j); err != nil {
			if ctx.Err() != nil {
				return // stopping: the error is the cancellation
			}
			log.Warn("maintenance: job failed; it runs again later", "job", j.Name, "error", err, "next_in", j.Every.String())
		} else {
			log.Debug("maintenance: job done", "job", j.Name, "took", time.Since(begin).Round(time.Millisecond).String())
		}
		timer.Reset(jittered(j.Every))
	}
}

// runOnce runs j, turning a panic into an error.
func runOnce(ctx context.Context, j Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx)
}

// firstDelay is a random delay in [0, min(every, firstWithin)).
func firstDelay(every time.Duration) time.Duration {
	return rand.N(min(every, firstWithin))
}

// jittered is every plus or minus up to 10 %.
func jittered(every time.Duration) time.Duration {
	spread := every / 5
	if spread <= 0 {
		return every
	}
	return every - spread/2 + rand.N(spread)
}

// AuditSealEvery is how often the audit trail is sealed: rows are tamper-evident at most this long
// after they were written, and a busy year makes at most 3 million seals (verify walks each).
const AuditSealEvery = 10 * time.Second

// Jobs are the appliance's clean-ups: logins (refresh-token families) that ended a day ago, and
// rate-limit windows older than twice the longest window. Deleting rows another replica already
// deleted is harmless, so every replica runs them. With the embedded database, PostgreSQL's
// rotated log files beyond embedded.log_keep are removed too (PostgreSQL never removes them).
func Jobs(cfg *config.Config, st *store.Store, log *slog.Logger) []Job {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	windowAge := max(2*max(cfg.RateLimit.LoginWindow, cfg.RateLimit.RegisterWindow), time.Minute)
	var jobs []Job
	if cfg.EmbeddedMode() {
		jobs = append(jobs, Job{Name: "old PostgreSQL logs", Every: 15 * time.Minute, Run: func(context.Context) error {
			n, err := database.PruneLogs(cfg.DataDir, cfg.Embedded.LogKeep)
			if n > 0 {
				log.Debug("maintenance: old PostgreSQL log files removed", "files", n)
			}
			return err
		}})
	}
	return append(jobs, []Job{
		{Name: "expired logins", Every: time.Hour, Run: func(ctx context.Context) error {
			n, err := st.DeleteExpiredFamilies(ctx, 24*time.Hour)
			if n > 0 {
				log.Debug("maintenance: expired logins deleted", "rows", n)
			}
			return err
		}},
		{Name: "audit seal", Every: AuditSealEvery, Run: func(ctx context.Context) error {
			// Chains the audit rows written since the last seal (migration 0004): until then a row
			// is in the table but not yet tamper-evident.
			_, err := st.SealAudit(ctx)
			return err
		}},
		{Name: "audit retention", Every: 6 * time.Hour, Run: func(ctx context.Context) error {
			// Through audit_purge(), the one way rows leave the trail (see migration 0003).
			n, err := st.PurgeAudit(ctx, cfg.Audit.Retention)
			if n > 0 {
				log.Info("maintenance: audit rows past audit.retention removed", "rows", n, "retention", cfg.Audit.Retention.String())
			}
			return err
		}},
		{Name: "old rate-limit windows", Every: 15 * time.Minute, Run: func(ctx context.Context) error {
			n, err := st.SweepRateLimits(ctx, windowAge)
			if n > 0 {
				log.Debug("maintenance: old rate-limit windows deleted", "rows", n)
			}
			return err
		}},
	}...)
}
