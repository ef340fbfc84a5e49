package main

import (
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/internal/bootstrap"
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

func (c *cli) printKeys(cmd *cobra.Command, keys []*domain.SigningKey) error {
	sortKeys(keys)
	out := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, toKeyJSON(k))
	}
	return c.print(cmd, out, func(w io.Writer) {
		rows := make([][]string, 0, len(out))
		for _, k := range out {
			rows = append(rows, []string{k.KID, k.Alg, k.State, k.CreatedAt, deref(k.ActivatedAt), deref(k.ExpiresAt)})
		}
		table(w, []string{"KID", "ALG", "STATE", "CREATED", "ACTIVATED", "EXPIRES"}, rows)
	})
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func (c *cli) keysListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List signing keys (public data only): active keys sign, next keys are published ahead, retired keys stay published until their tokens expire",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				keys, err := env.Store.ListSigningKeys(cmd.Context(), org)
				if err != nil {
					return err
				}
				return c.printKeys(cmd, keys)
			})
		},
	}
	addOrgFlag(cmd)
	return cmd
}

func (c *cli) keysRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate --org ORG [--alg ALG]...",
		Short: "Rotate signing keys: the published next key starts signing, the active one retires, a new next key is published",
		Args:  args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := orgFlag(cmd)
			if err != nil {
				return err
			}
			algs, _ := cmd.Flags().GetStringArray("alg")
			for _, alg := range algs {
				if !slices.Contains(domain.SigningAlgs, alg) {
					return domain.Invalid("alg", "must be RS256, ES256 or EdDSA (got %q)", alg)
				}
			}
			return c.withOrg(cmd, org, func(env *bootstrap.Env) error {
				keys, err := env.Keys.Rotate(cmd.Context(), org, algs)
				if err != nil {
					return err
				}
				return c.printKeys(cmd, keys)
			})
		},
	}
	addOrgFlag(cmd)
	cmd.Flags().StringArray("alg", nil, "rotate only this algorithm: RS256, ES256 or EdDSA (repeat for several; default all)")
	return cmd
}
