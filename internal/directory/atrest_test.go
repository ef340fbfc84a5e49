package directory_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/postgres"
	"github.com/latchkey/latchkey/internal/store/sqlite"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// TestSecretsAreUnreadableInTheDatabase reads the raw rows an organization
// leaves behind and proves that neither its API key nor its private
// signing keys nor a client secret appear in them.
func TestSecretsAreUnreadableInTheDatabase(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var st store.Store
			var dbFile string
			var err error
			if backend == "sqlite" {
				dbFile = filepath.Join(t.TempDir(), "latchkey.db")
				st, err = sqlite.Open(ctx, dbFile)
			} else {
				st, err = postgres.Open(ctx, testdb.PostgresURL(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			mk, _ := secret.NewMasterKey(bytes.Repeat([]byte{9}, secret.KeySize))
			d := &directory.Directory{Store: st, Keys: signer.New(st, mk, nil), Master: mk, PublicURL: "http://x"}
			actor := directory.Actor{Name: "test"}
			_, apiKey, err := d.CreateOrg(ctx, actor, "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			name := "Web"
			_, clientSecret, err := d.CreateApp(ctx, actor, "acme", false, directory.AppChanges{Name: &name, RedirectURIs: &[]string{"http://127.0.0.1/cb"}})
			if err != nil {
				t.Fatal(err)
			}
			db := st.(interface{ SQL() *sql.DB }).SQL()

			var hash, sealed []byte
			if err := db.QueryRowContext(ctx, `SELECT hash, sealed FROM api_keys WHERE org_id = 'acme'`).Scan(&hash, &sealed); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, []byte(apiKey)) || bytes.Contains(hash, []byte(apiKey)) || !bytes.Equal(hash, secret.Hash(apiKey)) {
				t.Fatal("the API key is readable in its row, or its lookup hash is not SHA-256")
			}
			var secretHash []byte
			if err := db.QueryRowContext(ctx, `SELECT secret_hash FROM apps WHERE org_id = 'acme' AND client_id <> 'admin-portal'`).Scan(&secretHash); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(secretHash, secret.Hash(clientSecret)) {
				t.Fatal("the client secret is not stored as its SHA-256")
			}
			rows, err := db.QueryContext(ctx, `SELECT sealed FROM signing_keys WHERE org_id = 'acme'`)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var s []byte
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				if _, err := x509.ParsePKCS8PrivateKey(s); err == nil {
					t.Fatal("a private key is stored unencrypted")
				}
				n++
			}
			rows.Close()
			if n != 6 {
				t.Fatalf("%d signing keys, want 6 (active and next for RS256, ES256, EdDSA)", n)
			}
			if dbFile != "" {
				st.Close() // flush the WAL into the file
				raw, err := os.ReadFile(dbFile)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(raw, []byte(apiKey)) || bytes.Contains(raw, []byte(clientSecret)) {
					t.Fatal("a secret appears in the database file")
				}
			}
		})
	}
}
