// Package audit batches the audit rows of reads: a request hands its row to a bounded buffer and
// goes on; one writer appends whatever has gathered in one COPY. Changes never come here: their
// rows are written in the change's own transaction (see api.change).
package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"healthcare/app/store"
)

// Buffer is how many read records may wait to be written. A full buffer makes requests wait: a
// record is never dropped.
const Buffer = 4096

// maxBatch bounds one COPY.
const maxBatch = 512

// gatherWindow is how long the writer gathers records after the first one before it writes them:
// under load one COPY (one statement, one commit, one WAL flush) then carries a few hundred rows
// instead of a dozen.
const gatherWindow = 10 * time.Millisecond

// Recorder writes read records asynchronously. What a crash can lose: the records in the buffer
// and the batch being gathered or written, i.e. the reads answered in the last gatherWindow and
// one COPY (a few milliseconds; never more than Buffer+maxBatch records).
type Recorder struct {
	st     *store.Store
	log    *slog.Logger
	ch     chan store.AuditEvent
	flush  chan chan struct{}
	done   chan struct{}
	quit   chan struct{} // closed by Close: the writer stops waiting out its gather window
	closed sync.Once
	mu     sync.RWMutex // Record holds it shared while sending; Close exclusively, to close ch
	stop   bool
}

// New starts a Recorder writing to st; Close flushes and stops it.
func New(st *store.Store, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{st: st, log: log, ch: make(chan store.AuditEvent, Buffer), flush: make(chan chan struct{}), done: make(chan struct{}),
		quit: make(chan struct{})}
	go r.run()
	return r
}

// Record queues e; it waits while the buffer is full. After Close it writes e synchronously.
func (r *Recorder) Record(ctx context.Context, e store.AuditEvent) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.mu.RLock()
	if !r.stop {
		r.ch <- e
		r.mu.RUnlock()
		return
	}
	r.mu.RUnlock()
	if err := r.st.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error("audit: a record could not be written", "action", e.Action, "resource", e.Resource, "error", err)
	}
}

// Flush waits until every record queued before it is written.
func (r *Recorder) Flush() {
	w := make(chan struct{})
	select {
	case r.flush <- w:
		<-w
	case <-r.done:
	}
}

// Close writes what is queued and stops the writer. Later records are written synchronously.
func (r *Recorder) Close() {
	r.closed.Do(func() {
		r.mu.Lock()
		r.stop = true
		close(r.ch)
		close(r.quit)
		r.mu.Unlock()
		<-r.done
	})
}

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]store.AuditEvent, 0, maxBatch)
	window := time.NewTimer(gatherWindow)
	window.Stop()
	for {
		var waiter chan struct{}
		select {
		case e, ok := <-r.ch:
			if !ok {
				return
			}
			batch = append(batch, e)
		case waiter = <-r.flush:
		}
		// What arrives within gatherWindow goes in the same COPY. The writer sleeps through the
		// window and then takes what has gathered, rather than receiving each record as it comes:
		// a record sent to the buffer then wakes nobody, where a writer waiting on the channel was
		// woken once per read (a goroutine switch on every GET). It does not wait once a Flush
		// waits (only what is queued already goes), when a full batch is queued, or once Close began.
		if waiter == nil && len(r.ch) < maxBatch-len(batch) {
			window.Reset(gatherWindow)
			select {
			case <-window.C:
			case waiter = <-r.flush:
				window.Stop()
			case <-r.quit: // closing: what is queued is written now
				window.Stop()
			}
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case e, ok := <-r.ch:
				if !ok { // closed: written now, and the next receive returns
					break gather
				}
				batch = append(batch, e)
			default:
				break gather
			}
		}
		r.write(batch)
		batch = batch[:0]
		if waiter != nil {
			if len(r.ch) > 0 { // more was queued before the Flush: write it too
				r.drain()
			}
			close(waiter)
		}
	}
}

// drain writes what is queued now (not what keeps arriving: a Flush returns under steady load).
func (r *Recorder) drain() {
	for left := len(r.ch); left > 0; {
		batch := make([]store.AuditEvent, 0, min(left, maxBatch))
		for len(batch) < cap(batch) {
			e, ok := <-r.ch
			if !ok {
				break
			}
			batch = append(batch, e)
		}
		left -= cap(batch)
		r.write(batch)
		if len(batch) < cap(batch) { // closed
			return
		}
	}
}

// write appends batch, retrying while the database is away: records wait rather than vanish. A
// batch the database refuses (a record it cannot store) is written record by record instead, so
// that one bad record costs only itself, never the other reads of its batch.
func (r *Recorder) write(batch []store.AuditEvent) {
	if len(batch) == 0 {
		return
	}
	for attempt := 0; ; attempt++ {
		err := r.st.AppendAuditBatch(context.Background(), batch)
		if err == nil {
			return
		}
		if errors.Is(err, store.ErrAuditUnstorable) {
			if len(batch) == 1 {
				r.log.Error("audit: a read record was refused; it is lost", "action", batch[0].Action,
					"resource", batch[0].Resource, "request_id", batch[0].RequestID, "error", err)
				return
			}
			for i := range batch {
				r.write(batch[i : i+1])
			}
			return
		}
		if attempt >= 20 {
			r.log.Error("audit: read records could not be written and are lost", "records", len(batch), "error", err)
			return
		}
		r.log.Warn("audit: writing read records failed; retrying", "records", len(batch), "error", err)
		time.Sleep(250 * time.Millisecond)
	}
}
