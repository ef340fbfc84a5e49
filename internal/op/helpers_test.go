package op_test

import (
	"testing"

	"github.com/latchkey/latchkey/internal/server/servertest"
)

// The tests of this package drive a whole Latchkey over HTTP, as a relying
// party would; servertest.OP makes the raw protocol requests.

// opServer adds the requests only these tests make to servertest.OP.
type opServer struct{ *servertest.OP }

func startOP(t *testing.T, backend string) *opServer {
	t.Helper()
	return &opServer{servertest.StartOP(t, backend)}
}
