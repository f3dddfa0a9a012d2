package server

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/api"
	"healthcare/app/auth"
)

// Large answers (a list of 1000 patients is a few MB) stay in memory until their client has read
// them, up to the 30 s write timeout: a thousand connections that ask for one and never read
// would hold gigabytes. The send budget bounds what large answers hold at once, in all and per
// client address; an answer beyond it is 503 with Retry-After instead, and small answers (every
// other request) never wait for it.
//
// Building such an answer takes memory too, before the budget sees it (the rows, the encoder's
// buffer, the copy for the stream: about three times the answer): lists asked for with a limit
// above the default page are built at most largeBuilds at a time, the others wait for a slot.
const (
	largeAnswer          = 32 << 10 // answers up to this size do not count (at most max_connections of them)
	sendBudgetTotal      = 64 << 20
	sendBudgetPerAddress = 16 << 20 // one client cannot take all of it
	largeBuilds          = 4
	largeBuildWait       = 10 * time.Second // then 503 with Retry-After
)

const msgSendBudget = "The server is busy sending other large answers: try again in a few seconds, or ask for fewer rows (limit)."

type sendBudget struct {
	total, perAddress int64
	builds            chan struct{} // a slot per large answer being built
	mu                sync.Mutex
	used              int64
	byAddress         map[string]int64
}

func newSendBudget(total, perAddress int64) *sendBudget {
	return &sendBudget{total: total, perAddress: perAddress, builds: make(chan struct{}, largeBuilds), byAddress: map[string]int64{}}
}

func busy() error {
	return &api.Error{Status: fiber.StatusServiceUnavailable, Body: map[string]string{"detail": msgSendBudget},
		Header: map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(api.RetryAfter)}}
}

// largeList reports whether the request asks for a list page larger than the default.
func largeList(c *fiber.Ctx) bool {
	if !c.Request().Header.IsGet() && !c.Request().Header.IsHead() {
		return false
	}
	v := c.Request().URI().QueryArgs().Peek("limit")
	if len(v) == 0 { // most requests: no Atoi error to allocate
		return false
	}
	n, err := strconv.Atoi(string(v))
	return err == nil && n > api.DefaultLimit
}

// limit builds a large list only in one of the largeBuilds slots, and lets a large answer out only
// within the budget (admit).
func (b *sendBudget) limit(c *fiber.Ctx) error {
	if largeList(c) {
		t := time.NewTimer(largeBuildWait)
		select {
		case b.builds <- struct{}{}:
			t.Stop()
			defer func() { <-b.builds }() // after the body went to the budget (or was refused)
		case <-t.C:
			return busy()
		case <-c.UserContext().Done():
			t.Stop()
			return busy()
		}
	}
	if err := c.Next(); err != nil {
		return err
	}
	return b.admit(c)
}

// admit hands a large built answer to the budget, or refuses it (503): its body moves to a stream
// that gives its bytes back once fasthttp has written it or dropped it. The API's views call it
// before their audit row (api.API.Send), so the row records a refusal; limit calls it for every
// other answer (an admitted one is a stream by then, and passes).
func (b *sendBudget) admit(c *fiber.Ctx) error {
	resp := c.Response()
	if resp.IsBodyStream() { // files and exports stream from disk or the database, a chunk at a time
		return nil
	}
	body := resp.Body()
	n := int64(len(body))
	if n <= largeAnswer {
		return nil
	}
	addr := auth.AddressGroup(api.ClientIP(c))
	if !b.take(addr, n) {
		resp.ResetBody()
		resp.Header.Del(fiber.HeaderLink)
		resp.Header.Del("X-Total-Count")
		return busy()
	}
	// A copy: the body may be a buffer fasthttp hands to the next response once this one is reset.
	resp.SetBodyStream(&budgeted{Reader: bytes.NewReader(bytes.Clone(body)), release: func() { b.give(addr, n) }}, int(n))
	return nil
}

func (b *sendBudget) take(addr string, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.total || b.byAddress[addr]+n > b.perAddress {
		return false
	}
	b.used += n
	b.byAddress[addr] += n
	return true
}

func (b *sendBudget) give(addr string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.byAddress[addr] -= n; b.byAddress[addr] <= 0 {
		delete(b.byAddress, addr)
	}
}

// budgeted is an answer's body that gives its bytes back to the budget when fasthttp closes it
// (after writing it, or when the response is reset unwritten); once only.
type budgeted struct {
	*bytes.Reader
	once    sync.Once
	release func()
}

func (r *budgeted) Close() error {
	r.once.Do(r.release)
	return nil
}
