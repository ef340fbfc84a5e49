package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// logoutApp is an application's back-channel logout endpoint. It records
// every POST by (audience, sid) and notices two sends of one notification
// in flight at once. hold, if set, decides how a request is answered.
type logoutApp struct {
	*httptest.Server
	mu       sync.Mutex
	posts    map[string]int
	inFlight map[string]int
	overlaps int
	active   int
	hold     func(r *http.Request)
}

func newLogoutApp(t *testing.T, hold func(r *http.Request)) *logoutApp {
	a := &logoutApp{posts: map[string]int{}, inFlight: map[string]int{}, hold: hold}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := notification(r.PostFormValue("logout_token"))
		a.mu.Lock()
		a.posts[key]++
		if a.inFlight[key]++; a.inFlight[key] > 1 {
			a.overlaps++
		}
		a.active++
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			a.inFlight[key]--
			a.active--
			a.mu.Unlock()
		}()
		if a.hold != nil {
			a.hold(r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *logoutApp) snapshot() (posts map[string]int, overlaps, active int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	posts = map[string]int{}
	for k, v := range a.posts {
		posts[k] = v
	}
	return posts, a.overlaps, a.active
}

// notification names a logout token's notification: "aud sid".
func notification(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "malformed"
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Aud string `json:"aud"`
		SID string `json:"sid"`
	}
	_ = json.Unmarshal(body, &c)
	return c.Aud + " " + c.SID
}

// backchannelApp registers an application of fx's organization whose
// back-channel logout URI is uri.
func backchannelApp(t *testing.T, c *cluster, fx *servertest.Fixture, uri string) *servertest.Fixture {
	t.Helper()
	name, grants := "Back-channel "+uri, []string{"authorization_code", "refresh_token"}
	app, sec, err := c.env.Directory.CreateApp(context.Background(), directory.Actor{Name: "cluster-test"}, fx.Org, false, directory.AppChanges{
		Name: &name, RedirectURIs: &[]string{fx.RedirectURI}, GrantTypes: &grants, BackchannelLogoutURI: &uri,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := *fx
	out.ClientID, out.ClientSecret = app.ClientID, sec
	return &out
}

// sessionWith signs a fresh browser in and has each app take part in its
// session; it returns the browser and the first app's id_token.
func sessionWith(t *testing.T, c *cluster, apps ...*servertest.Fixture) (*servertest.Browser, string) {
	t.Helper()
	b := signIn(t, c, apps[0])
	var first string
	for i, app := range apps {
		code, err := authorize(b.Client, c.URL+"/o/"+app.Org, app.ClientID, app.RedirectURI)
		if err != nil {
			t.Fatal(err)
		}
		status, body := postToken(t, http.DefaultClient, c.URL+"/o/"+app.Org, app, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.RedirectURI}})
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, body)
		}
		if i == 0 {
			first, _ = body["id_token"].(string)
		}
	}
	return b, first
}

func sqlDB(c *cluster) *sql.DB { return c.env.Store.(interface{ SQL() *sql.DB }).SQL() }

// A node is killed with SIGKILL while it sends back-channel logouts: the
// other nodes deliver what it held once its leases run out. Every
// notification arrives, no notification is ever in flight twice at once,
// and every POST an application received is a recorded attempt.
func TestCluster_NodeKilledDuringLogoutFanOut(t *testing.T) {
	c := startCluster(t, clusterOptions{nodes: 3})
	fx := c.fixture("acme", redirectURI)
	// The applications take a while to answer, so the fan-out is still
	// going when the node dies: half a second, a second less than a node
	// may spend on one send (half the 3 s lease), so that on a busy
	// machine no attempt times out while the application answers it and
	// is sent again for that rather than for the kill.
	slow := func(r *http.Request) {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-r.Context().Done():
		}
	}
	appA, appB := newLogoutApp(t, slow), newLogoutApp(t, slow)
	a := backchannelApp(t, c, fx, appA.URL+"/bc")
	b := backchannelApp(t, c, fx, appB.URL+"/bc")

	const sessions = 30
	type signedIn struct {
		browser *servertest.Browser
		idToken string
	}
	var all []signedIn
	for range sessions {
		br, idt := sessionWith(t, c, a, b)
		all = append(all, signedIn{br, idt})
	}
	iss := c.URL + "/o/" + fx.Org
	parallel(t, sessions, 6, func(i int) error {
		resp, err := all[i].browser.Client.Get(iss + "/end_session?" + url.Values{"id_token_hint": {all[i].idToken}}.Encode())
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode >= 400 {
			return fmt.Errorf("end_session: %d", resp.StatusCode)
		}
		return nil
	})

	// Kill the node that holds leases while applications hold its sends.
	db := sqlDB(c)
	var victim *node
	waitFor(t, "a node holding deliveries it is sending", func() bool {
		for _, n := range c.nodes {
			var held int
			_ = db.QueryRow(`SELECT COUNT(*) FROM backchannel_deliveries WHERE lease_owner = $1 AND delivered_at = 0`, n.owner).Scan(&held)
			_, _, activeA := appA.snapshot()
			_, _, activeB := appB.snapshot()
			if held > 0 && activeA+activeB > 0 {
				victim = n
				return true
			}
		}
		return false
	})
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	killed := time.Now()
	c.remove(victim)

	const total = 2 * sessions
	waitFor(t, "every notification to be delivered", func() bool {
		var n int
		_ = db.QueryRow(`SELECT COUNT(*) FROM backchannel_deliveries WHERE org_id = $1 AND delivered_at <> 0`, fx.Org).Scan(&n)
		return n == total
	})
	delivery := time.Since(killed)

	type attempt struct {
		status int
		err    string
	}
	rows, err := db.Query(`SELECT d.client_id, d.sid, a.status, a.error FROM backchannel_deliveries d
		JOIN backchannel_attempts a ON a.org_id = d.org_id AND a.delivery_id = d.id WHERE d.org_id = $1`, fx.Org)
	if err != nil {
		t.Fatal(err)
	}
	attempts := map[string][]attempt{}
	for rows.Next() {
		var client, sid string
		var at attempt
		if err := rows.Scan(&client, &sid, &at.status, &at.err); err != nil {
			t.Fatal(err)
		}
		attempts[client+" "+sid] = append(attempts[client+" "+sid], at)
	}
	rows.Close()
	if len(attempts) != total {
		t.Fatalf("%d notifications have attempts, want %d", len(attempts), total)
	}
	postsA, overlapsA, _ := appA.snapshot()
	postsB, overlapsB, _ := appB.snapshot()
	posts := postsA
	for k, v := range postsB {
		posts[k] = v
	}
	if overlapsA+overlapsB > 0 {
		t.Errorf("%d notifications were in flight twice at once (sent again while leased)", overlapsA+overlapsB)
	}
	resent, totalPosts := 0, 0
	for key, as := range attempts {
		totalPosts += posts[key]
		if posts[key] == 0 {
			t.Errorf("%s: never received", key)
		}
		if posts[key] > len(as) {
			t.Errorf("%s: %d POSTs but %d recorded attempts", key, posts[key], len(as))
		}
		ok, interrupted := 0, 0
		for _, at := range as {
			switch {
			case at.status == http.StatusOK:
				ok++
			case at.status == 0 && at.err == "":
				t.Errorf("%s: an attempt has no result", key)
			case strings.Contains(at.err, "interrupted"):
				interrupted++
			}
		}
		if ok != 1 {
			t.Errorf("%s: %d successful attempts, want 1 (%+v)", key, ok, as)
		}
		if posts[key] > 1 {
			resent++
			if interrupted == 0 {
				t.Errorf("%s: received %d times without an interrupted attempt", key, posts[key])
			}
		}
	}
	t.Logf("killed node %d mid fan-out: %d notifications delivered %s after the kill (lease %s); %d POSTs, %d notifications sent again after the dead node's lease ran out, 0 in flight twice",
		victim.i, total, delivery.Round(100*time.Millisecond), lease, totalPosts, resent)
}

// PostgreSQL hangs, then goes away, then comes back: meanwhile every node
// answers 503 with Retry-After (never 500, never a hang); afterwards every
// node serves again without a restart.
func TestCluster_DatabaseUnavailableAnswers503ThenRecovers(t *testing.T) {
	pg := &tcpProxy{}
	c := startCluster(t, clusterOptions{nodes: 2, dbProxy: pg})
	fx := c.fixture("acme", redirectURI)
	iss := c.URL + "/o/" + fx.Org
	tickets := mintTickets(t, c, fx, 2*len(c.nodes))
	_, adminToken, err := c.env.Directory.CreateAdminToken(context.Background(), directory.Actor{Name: "cluster-test"}, "", "outage probe", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Requests that each need the database, one per kind of endpoint.
	probes := map[string]func(client *http.Client) (*http.Response, error){
		"discovery": func(cl *http.Client) (*http.Response, error) {
			return cl.Get(iss + "/.well-known/openid-configuration")
		},
		"token": func(cl *http.Client) (*http.Response, error) {
			return cl.PostForm(iss+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {fx.ClientID}, "client_secret": {fx.ClientSecret}})
		},
		"ticket landing": func(cl *http.Client) (*http.Response, error) { return cl.Get(iss + "/?refresh-token=" + tickets[0]) },
		"platform API": func(cl *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, c.URL+"/api/organization/acme/user/alice/generate-token", nil)
			req.Header.Set("x-org-id", "acme")
			req.Header.Set("x-api-key", fx.APIKey)
			return cl.Do(req)
		},
		"admin API": func(cl *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, c.URL+"/api/admin/orgs/acme", nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			return cl.Do(req)
		},
		"readyz": func(cl *http.Client) (*http.Response, error) { return cl.Get(c.URL + "/readyz") },
	}
	// Every node answers every probe with 503 (a request may first meet a
	// connection the pool still had: poll until the node knows). Probes run
	// at once, each waiting up to the database timeout.
	expectUnavailable := func(phase string) {
		t.Helper()
		var wg sync.WaitGroup
		for _, n := range c.nodes {
			client := n.client()
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			for name, probe := range probes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(90 * time.Second)
					for {
						resp, err := probe(client)
						if err != nil {
							t.Errorf("node %d %s while the database %s: %v (a hang must end in 503)", n.i, name, phase, err)
							return
						}
						drain(resp)
						switch {
						case resp.StatusCode == http.StatusInternalServerError:
							t.Errorf("node %d %s while the database %s: 500, want 503", n.i, name, phase)
						case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
							t.Errorf("node %d %s: 503 without Retry-After", n.i, name)
						}
						if resp.StatusCode == http.StatusServiceUnavailable {
							return
						}
						if time.Now().After(deadline) {
							t.Errorf("node %d %s while the database %s: still %d", n.i, name, phase, resp.StatusCode)
							return
						}
						time.Sleep(25 * time.Millisecond)
					}
				}()
			}
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}

	pg.freeze()
	expectUnavailable("hangs")
	pg.down()
	expectUnavailable("is unreachable")
	back := time.Now()
	pg.up(t)
	for _, n := range c.nodes {
		waitFor(t, fmt.Sprintf("node %d to be ready again", n.i), func() bool { return statusOf(n.URL()+"/readyz") == http.StatusOK })
	}
	// Every node completes a ticket sign-in again, with no restart.
	for i, n := range c.nodes {
		if !n.running() {
			t.Fatalf("node %d exited during the outage", n.i)
		}
		client := n.client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		waitFor(t, fmt.Sprintf("node %d to redeem a ticket", n.i), func() bool {
			resp, err := client.Get(iss + "/?refresh-token=" + tickets[1+i])
			if err != nil {
				return false
			}
			drain(resp)
			return resp.StatusCode == http.StatusSeeOther
		})
	}
	t.Logf("database hung, then unreachable: every probe answered 503 with Retry-After on %d nodes; all serving again %s after the database returned, no restart",
		len(c.nodes), time.Since(back).Round(100*time.Millisecond))
}

// SIGTERM: the node stops accepting connections, finishes the request in
// flight, hands back the back-channel delivery it is sending (recorded as
// interrupted, due at once for the other nodes) and exits 0.
func TestCluster_SIGTERMDrainsAndReleasesLeases(t *testing.T) {
	// A long lease: the send is still within its budget when the node's
	// shutdown grace for sends ends.
	c := startCluster(t, clusterOptions{nodes: 1, lease: time.Minute})
	fx := c.fixture("acme", redirectURI)
	hanging := newLogoutApp(t, func(r *http.Request) { <-r.Context().Done() })
	app := backchannelApp(t, c, fx, hanging.URL+"/bc")
	br, idt := sessionWith(t, c, app)
	resp, err := br.Client.Get(c.URL + "/o/acme/end_session?" + url.Values{"id_token_hint": {idt}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	waitFor(t, "the back-channel send to be in flight", func() bool { _, _, active := hanging.snapshot(); return active == 1 })

	// A request in flight: headers sent, half of the body still to come.
	n := c.nodes[0]
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name":"Bob Example","email":"bob@example.com"}`
	fmt.Fprintf(conn, "POST /api/organization/acme/user/bob/update HTTP/1.1\r\nHost: %s\r\nx-org-id: acme\r\nx-api-key: %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", n.addr, fx.APIKey, len(body), body[:10])
	// The server has the request once it has accepted its connection: a
	// request answered on a connection dialed after it shows that (the
	// node accepts connections in order). A new connection each time: one
	// kept alive from before would prove nothing, and a connection still
	// waiting in the listen queue at SIGTERM is reset unanswered.
	fresh := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	waitFor(t, "the node to serve", func() bool {
		resp, err := fresh.Get(n.URL() + "/healthz")
		if err != nil {
			return false
		}
		drain(resp)
		return resp.StatusCode == http.StatusOK
	})

	exit := make(chan error, 1)
	go func() {
		st := n.sigterm(t)
		if st.ExitCode() != 0 {
			exit <- fmt.Errorf("exit %s", st)
			return
		}
		exit <- nil
	}()
	waitFor(t, "the node to stop accepting connections", func() bool {
		c, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	// The node answers and closes the connection (it is shutting down).
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read the answer to the request in flight: %v", err)
	}
	reply, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	drain(reply)
	if reply.StatusCode != http.StatusCreated {
		t.Fatalf("the request in flight: %d, want 201", reply.StatusCode)
	}
	if err := <-exit; err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, n.log)
	}
	if !strings.Contains(n.log.String(), "released back-channel logout deliveries") {
		t.Errorf("no release logged:\n%s", n.log)
	}
	var lockedUntil, nextAttempt, attempts int64
	var owner, lastErr string
	if err := sqlDB(c).QueryRow(`SELECT locked_until, lease_owner, next_attempt_at, attempts, last_error FROM backchannel_deliveries WHERE org_id = 'acme'`).
		Scan(&lockedUntil, &owner, &nextAttempt, &attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if lockedUntil != 0 || owner != "" || nextAttempt > time.Now().UnixMicro() || attempts != 1 || !strings.Contains(lastErr, "interrupted") {
		t.Fatalf("delivery after shutdown: locked_until=%d owner=%q next=%d attempts=%d last_error=%q; want released, due now, the attempt recorded as interrupted",
			lockedUntil, owner, nextAttempt, attempts, lastErr)
	}
}
