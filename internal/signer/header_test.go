package signer_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

func decodeHeader(tok string, v any) error {
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		return err
	}
	return json.Unmarshal(h, v)
}
