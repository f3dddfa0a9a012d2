package api_test

import (
	"os"
	"testing"

	"healthcare/app/api/apitest"
)

// TestMain starts the package's embedded PostgreSQL once (every test gets its own database), and
// after a full run checks that the tests requested every operation of the OpenAPI document.
func TestMain(m *testing.M) { os.Exit(apitest.CheckCoverage(apitest.Main(m))) }
