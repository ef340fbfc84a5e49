package op

import (
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

// Codes this node issued, held until they are redeemed or expire.
//
// Most codes are redeemed within a second, through the node that issued
// them (a single node always). That node knows the code and its session
// as they were when it issued it; the row and its session are read back
// only when something may have changed since. The token request
// redeems such a code with store.RedeemIssuedCode, which uses it up only
// if the code is unused and its session neither ended nor renewed, in
// the same atomic step as storing the tokens; any other outcome (a
// replay, a logout, a renewal, a code purged or another organization's)
// sends the request down the path that reads the code and its session
// and decides as before. So holding a code never lets more through than
// the store does: it only spares a read.
//
// The memory is bounded: at most maxIssuedCodes entries. When it is full
// the expired ones are dropped (looked for at most once a second, so a
// full memory of live codes costs no scan per code issued); if none has
// expired, new codes are not held (their redemption reads them). Entries
// are removed when their code is presented, whatever the outcome.

// maxIssuedCodes bounds the codes held: a few seconds of a busy node's
// sign-ins; codes that are never redeemed leave with their expiry.
const maxIssuedCodes = 4096

// issuedCode is a code as issued, with its session's expiry then.
type issuedCode struct {
	code           *domain.AuthCode
	sessionExpires time.Time
}

type issuedCodes struct {
	mu    sync.Mutex
	m     map[issuedKey]issuedCode
	swept time.Time // when a full memory was last searched for expired codes
}

type issuedKey struct {
	org  string
	hash string
}

// put holds c, issued in a session that expires at sessionExpires.
func (ic *issuedCodes) put(c *domain.AuthCode, sessionExpires, now time.Time) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.m == nil {
		ic.m = make(map[issuedKey]issuedCode)
	}
	if len(ic.m) >= maxIssuedCodes {
		if now.Sub(ic.swept) < time.Second {
			return
		}
		ic.swept = now
		for k, v := range ic.m {
			if !now.Before(v.code.ExpiresAt) {
				delete(ic.m, k)
			}
		}
		if len(ic.m) >= maxIssuedCodes {
			return
		}
	}
	ic.m[issuedKey{c.OrgID, string(c.Hash)}] = issuedCode{code: c, sessionExpires: sessionExpires}
}

// take removes and returns the code of org with hash, if held.
func (ic *issuedCodes) take(org string, hash []byte) (issuedCode, bool) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	k := issuedKey{org, string(hash)}
	v, ok := ic.m[k]
	if ok {
		delete(ic.m, k)
	}
	return v, ok
}

// held reports how many codes are held (tests).
func (ic *issuedCodes) held() int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return len(ic.m)
}
