package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
	"github.com/latchkey/latchkey/internal/testkit"
)

// syncBuffer is a log sink that tests may read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBackchannelLogout_AttemptRecordsSayOnlyUnreachable: an org admin
// reads the attempt records; a refused address and a refused connection
// look alike there ("unreachable"), and only the server log says which.
func TestBackchannelLogout_AttemptRecordsSayOnlyUnreachable(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			logs := &syncBuffer{}
			inst := servertest.Start(t, backend, servertest.Options{Log: logs})
			s := servertest.NewOP(t, inst, inst.NewFixture(t, "acme", servertest.OPRedirectURI))
			ctx := context.Background()
			// No packet goes to the metadata address: the address check
			// refuses it before any dial.
			metadata := s.NewApp(t, "acme", false, directory.AppChanges{BackchannelLogoutURI: testkit.Ptr("http://169.254.169.254/latest/bc")})
			refused := s.NewApp(t, "acme", false, directory.AppChanges{BackchannelLogoutURI: testkit.Ptr("http://" + testkit.ClosedPort(t) + "/bc")})
			b := servertest.NewBrowser(t)
			tok := s.SignIn(t, b, metadata)
			s.SignIn(t, b, refused)
			sid, _ := servertest.JWTPart(t, tok.ID, 1)["sid"].(string)
			if r := s.EndSessionCall(t, "acme", url.Values{"id_token_hint": {tok.ID}}); r.Status != http.StatusOK {
				t.Fatalf("end_session: %d\n%s", r.Status, r.Body)
			}
			var errs []string
			testkit.WaitFor(t, "both attempts to be recorded", func() bool {
				ds, err := inst.Env.Store.ListBackchannel(ctx, "acme", sid)
				if err != nil || len(ds) != 2 {
					return false
				}
				errs = errs[:0]
				for _, d := range ds {
					as, err := inst.Env.Store.ListBackchannelAttempts(ctx, "acme", d.ID)
					if err != nil || len(as) == 0 || as[0].Error == "" || d.LastError == "" {
						return false // not sent, or the attempt not finished yet
					}
					errs = append(errs, as[0].Error, d.LastError)
				}
				return true
			})
			for _, e := range errs {
				if e != "unreachable" {
					t.Errorf("an attempt record says %q, want only \"unreachable\"", e)
				}
			}
			var log string
			testkit.WaitFor(t, "the reasons in the server log", func() bool {
				log = logs.String()
				return strings.Contains(log, "169.254.169.254 is link-local") && strings.Contains(log, "connection refused")
			})
			for _, want := range []string{"169.254.169.254 is link-local", "connection refused"} {
				if !strings.Contains(log, want) {
					t.Errorf("the server log does not give the reason %q", want)
				}
			}
		})
	}
}
