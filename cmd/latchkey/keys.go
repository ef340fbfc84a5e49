package main

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/domain"
)

func (c *cli) keysCmd() *cobra.Command {
	cmd := c.group(&cobra.Command{Use: "keys", Short: "List or rotate an organization's token signing keys"})
	addJSONFlag(cmd)
	cmd.AddCommand(c.keysListCmd(), c.keysRotateCmd())
	return cmd
}

// sortKeys orders keys by algorithm (RS256 first), then active, next,
// retired, then newest first.
func sortKeys(keys []*domain.SigningKey) {
	states := []string{domain.KeyActive, domain.KeyNext, domain.KeyRetired}
	slices.SortStableFunc(keys, func(a, b *domain.SigningKey) int {
		if d := slices.Index(domain.SigningAlgs, a.Alg) - slices.Index(domain.SigningAlgs, b.Alg); d != 0 {
			return d
		}
		if d := slices.Index(states, a.State) - slices.Index(states, b.State); d != 0 {
			return d
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
}

func (c *cli) printKeys(o orgCall, keys []*domain.SigningKey) error {
	sortKeys(keys)
	return printList(c, o.cmd, each(keys, toKeyJSON), []string{"KID", "ALG", "STATE", "CREATED", "ACTIVATED", "EXPIRES"},
		func(k keyJSON) []string {
			return []string{k.KID, k.Alg, k.State, k.CreatedAt, orElse(k.ActivatedAt, "-"), orElse(k.ExpiresAt, "-")}
		})
}

func (c *cli) keysListCmd() *cobra.Command {
	return orgCmd[[]*domain.SigningKey]{
		act:  func(o orgCall) ([]*domain.SigningKey, error) { return o.env.Store.ListSigningKeys(o.ctx(), o.org) },
		show: c.printKeys,
	}.on(c, command("list --org ORG", "List signing keys (public data only): active keys sign, next keys are published ahead, retired keys stay published until their tokens expire", args()))
}

func (c *cli) keysRotateCmd() *cobra.Command {
	var algs []string
	cmd := orgCmd[[]*domain.SigningKey]{
		check: func(cmd *cobra.Command, _ []string) error {
			algs, _ = cmd.Flags().GetStringArray("alg")
			for _, alg := range algs {
				if !slices.Contains(domain.SigningAlgs, alg) {
					return domain.Invalid("alg", "must be RS256, ES256 or EdDSA (got %q)", alg)
				}
			}
			return nil
		},
		act:  func(o orgCall) ([]*domain.SigningKey, error) { return o.env.Keys.Rotate(o.ctx(), o.org, algs) },
		show: c.printKeys,
	}.on(c, command("rotate --org ORG [--alg ALG]...", "Rotate signing keys: the published next key starts signing, the active one retires, a new next key is published", args()))
	cmd.Flags().StringArray("alg", nil, "rotate only this algorithm: RS256, ES256 or EdDSA (repeat for several; default all)")
	return cmd
}
