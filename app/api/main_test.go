package api_test

import (
	"os"
	"testing"

	"healthcare/app/api/apitest"
)

// TestMain starts the package's embedded PostgreSQL once; every test gets its own database.
func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }
