package directory

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestNewClientID_DrawsAgainWhenTheIDWouldStartWithADash(t *testing.T) {
	// 0xF8 encodes to '-' as the first base64url character.
	r := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte{0xF8}, 18)), bytes.NewReader(make([]byte, 18)))
	d := &Directory{Rand: r}
	id, err := d.newClientID()
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(id, "-") || id != strings.Repeat("A", 24) {
		t.Errorf("client ID = %q, want the second draw (all A)", id)
	}
}
