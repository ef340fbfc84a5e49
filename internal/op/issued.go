package op

import (
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

// Codes this node issued are held (package held) until they are redeemed
// or expire.
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
// the store does: it only spares a read. Entries are removed when their
// code is presented, whatever the outcome.

// issuedCode is a code as issued, with its session's expiry then.
type issuedCode struct {
	code           *domain.AuthCode
	sessionExpires time.Time
}
