package api

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/store"
)

// List limits (API.md, deliberate difference 8). MaxOffset keeps offset+limit, and every offset
// a Link header names, far from integer overflow; no clinic has a billion rows.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	MaxOffset    = 1_000_000_000
)

// ParseListQuery reads limit, offset, search and ordering. ordering must be one of the allowed
// field names, optionally prefixed with "-" (descending); the store maps names to columns.
// Malformed values are reported in the returned FieldErrors (never nil), to which a handler adds
// its own filters' errors before answering the 400 naming each parameter (fe.Err()).
func ParseListQuery(c *fiber.Ctx, allowedOrdering ...string) (store.ListQuery, *FieldErrors) {
	q := store.ListQuery{Limit: DefaultLimit}
	fe := &FieldErrors{}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			fe.Add("limit", msgInteger)
		case n < 1:
			fe.Add("limit", fmt.Sprintf(msgMinValue, 1))
		case n > MaxLimit:
			fe.Add("limit", fmt.Sprintf(msgMaxValue, MaxLimit))
		default:
			q.Limit = n
		}
	}
	if s := c.Query("offset"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			fe.Add("offset", msgInteger)
		case n < 0:
			fe.Add("offset", fmt.Sprintf(msgMinValue, 0))
		case n > MaxOffset:
			fe.Add("offset", fmt.Sprintf(msgMaxValue, MaxOffset))
		default:
			q.Offset = n
		}
	}
	q.Search = strings.TrimSpace(c.Query("search"))
	if strings.ContainsRune(q.Search, 0) || !utf8.ValidString(q.Search) {
		fe.Add("search", msgNullChars)
	} else if utf8.RuneCountInString(q.Search) > 255 {
		fe.Add("search", fmt.Sprintf(msgMaxLength, 255))
	}
	if s := c.Query("ordering"); s != "" {
		name := strings.TrimPrefix(s, "-")
		ok := false
		for _, a := range allowedOrdering {
			ok = ok || a == name
		}
		if !ok {
			fe.Add("ordering", fmt.Sprintf("%q is not a valid ordering. Use one of: %s (prefix - for descending).",
				s, strings.Join(allowedOrdering, ", ")))
		} else {
			q.Ordering = name
			q.Descending = strings.HasPrefix(s, "-")
		}
	}
	return q, fe
}

// SetListHeaders writes X-Total-Count and an RFC 8288 Link header with rel="next"/"prev".
func SetListHeaders(c *fiber.Ctx, q store.ListQuery, total int64) {
	c.Set("X-Total-Count", strconv.FormatInt(total, 10))
	var links []string
	link := func(offset int64, rel string) {
		v := url.Values{}
		c.Context().QueryArgs().VisitAll(func(k, val []byte) { v.Add(string(k), string(val)) })
		v.Set("limit", strconv.Itoa(q.Limit))
		v.Set("offset", strconv.FormatInt(offset, 10))
		links = append(links, fmt.Sprintf("<%s%s?%s>; rel=%q", c.BaseURL(), c.Path(), v.Encode(), rel))
	}
	// In int64 and clamped: ParseListQuery bounds both, but a header must never name an offset
	// below 0 or beyond MaxOffset, whatever the query held.
	offset := min(max(int64(q.Offset), 0), MaxOffset)
	limit := min(max(int64(q.Limit), 1), MaxLimit)
	if next := offset + limit; next < total && next <= MaxOffset {
		link(next, "next")
	}
	if offset > 0 {
		link(max(offset-limit, 0), "prev")
	}
	if len(links) > 0 {
		c.Set("Link", strings.Join(links, ", "))
	}
}
