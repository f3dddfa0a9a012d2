package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/auth"
	"healthcare/app/store"
)

// Error is an HTTP error with a JSON body in Django REST Framework's shapes. Handlers return it;
// ErrorHandler writes it. It is the one way an error reaches a client.
type Error struct {
	Status int
	Body   any               // marshalled as JSON
	Header map[string]string // extra headers, e.g. WWW-Authenticate or Retry-After
}

func (e *Error) Error() string { return fmt.Sprintf("http %d", e.Status) }

// Detail is the {"detail": msg} error of DRF.
func Detail(status int, msg string) *Error {
	return &Error{Status: status, Body: map[string]string{"detail": msg}}
}

// NotFound is DRF's 404 for a missing record, a record that is not the caller's, or a malformed id.
func NotFound() *Error { return Detail(fiber.StatusNotFound, "Not found.") }

// Invalid is the 400 for field validation errors.
func Invalid(fe *FieldErrors) *Error { return &Error{Status: fiber.StatusBadRequest, Body: fe} }

// FieldError is a 400 with one message for one field.
func FieldError(field, msg string) *Error {
	fe := &FieldErrors{}
	fe.Add(field, msg)
	return Invalid(fe)
}

// FieldErrors collects validation messages per field, in the order the fields were checked (DRF
// reports all failing fields at once, in serializer field order).
type FieldErrors struct {
	keys []string
	msgs map[string][]string
}

// Add appends msg to field's messages.
func (fe *FieldErrors) Add(field, msg string) {
	if fe.msgs == nil {
		fe.msgs = map[string][]string{}
	}
	if _, ok := fe.msgs[field]; !ok {
		fe.keys = append(fe.keys, field)
	}
	fe.msgs[field] = append(fe.msgs[field], msg)
}

// Has reports whether field already has an error (later checks of that field are then skipped).
func (fe *FieldErrors) Has(field string) bool { _, ok := fe.msgs[field]; return ok }

// Empty reports whether no error was added.
func (fe *FieldErrors) Empty() bool { return len(fe.keys) == 0 }

// Err returns the 400 error, or nil when there is none.
func (fe *FieldErrors) Err() error {
	if fe.Empty() {
		return nil
	}
	return Invalid(fe)
}

// Messages returns field's messages (for tests and logs).
func (fe *FieldErrors) Messages(field string) []string { return fe.msgs[field] }

// MarshalJSON writes {"field": ["msg", ...], ...} in insertion order.
func (fe *FieldErrors) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range fe.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(fe.msgs[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ErrorHandler turns every error a handler or Fiber returns into a JSON response. A database
// that is away or overloaded is a 503 with Retry-After and a full disk a 507 (see
// databaseTrouble), logged as a warning; ping (the pool's, or nil) tells a slow query from a
// database that stopped answering. Other unexpected errors are logged with the request id and
// answered with a generic 500, never a stack trace.
func ErrorHandler(log *slog.Logger, ping func(context.Context) error) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var e *Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &e):
		case errors.As(err, &fe):
			e = fiberError(c, fe)
		case errors.Is(err, store.ErrSearchTooSlow):
			e = Detail(fiber.StatusServiceUnavailable, MsgSearchTooSlow)
			e.Header = map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(RetryAfter)}
		case errors.Is(err, auth.ErrBusy):
			e = Detail(fiber.StatusServiceUnavailable, MsgBusy)
			e.Header = map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(RetryAfter)}
		default:
			var cause string
			if e, cause = databaseTrouble(c.UserContext(), err, ping); e != nil {
				// Only the cause: a pgx error may carry the failing statement's context.
				log.Warn("the database cannot serve requests", "status", e.Status, "method", c.Method(), "path", c.Path(),
					"request_id", c.GetRespHeader(fiber.HeaderXRequestID), "cause", cause)
				break
			}
			log.Error("request failed", "method", c.Method(), "path", c.Path(),
				"request_id", c.GetRespHeader(fiber.HeaderXRequestID), "error", err)
			e = Detail(fiber.StatusInternalServerError, "A server error occurred. It has been logged; try again later.")
		}
		for k, v := range e.Header {
			c.Set(k, v)
		}
		return c.Status(e.Status).JSON(e.Body)
	}
}

// MsgBusy answers a login or registration refused because too many already wait for password
// hashing (auth.ErrBusy).
const MsgBusy = "Too many sign-ins at once. Try again in a few seconds."

// MsgSearchTooSlow answers a search that ran out of database.search_timeout (see store.searchLimit).
const MsgSearchTooSlow = "The search took too long. Narrow it down (more characters, a filter) and try again."

// notAllowed is DRF's 405 for the request's method.
func notAllowed(c *fiber.Ctx) *Error {
	return Detail(fiber.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", strings.ToUpper(c.Method())))
}

// fiberError maps Fiber's own errors (unknown route, wrong method, body too large...) to DRF shapes.
func fiberError(c *fiber.Ctx, fe *fiber.Error) *Error {
	switch fe.Code {
	case fiber.StatusNotFound:
		return NotFound()
	case fiber.StatusMethodNotAllowed:
		return notAllowed(c)
	case fiber.StatusRequestEntityTooLarge:
		return Detail(fe.Code, "Request body is too large.")
	case fiber.StatusBadRequest:
		return Detail(fe.Code, "Bad request.")
	default:
		return Detail(fe.Code, fe.Message)
	}
}
