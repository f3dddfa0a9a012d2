package apitest

import (
	"net/http"
	"testing"
)

// check validates one request/response pair against the OpenAPI document.
// (Placeholder: the OpenAPI work fills it.)
func check(t testing.TB, req *http.Request, reqBody []byte, resp *Response) {}
