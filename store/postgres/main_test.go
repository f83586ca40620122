package postgres

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// parallelParts is how many of the conformance suite's parts run at once
// here unless -parallel says otherwise. They wait on the database server,
// not on this process's CPU, each in a schema of its own, so more than go
// test's default of one per CPU shortens the package's wall time; the
// bound keeps their connections (at most 4 a store) far below the server's
// max_connections.
const parallelParts = 4

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", strconv.Itoa(parallelParts)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
