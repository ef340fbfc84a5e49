package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen_BindsValueToItsPlace(t *testing.T) {
	k, err := NewMasterKey(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal([]byte("private key"), "signing-key/acme/k1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("private key")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if pt, err := k.Open(sealed, "signing-key/acme/k1"); err != nil || string(pt) != "private key" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k.Open(sealed, "signing-key/globex/k1"); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("opened with another row's associated data: %v", err)
	}
	other, _ := NewMasterKey(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, "signing-key/acme/k1"); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("opened with another master key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open(sealed, "signing-key/acme/k1"); !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("opened a tampered value: %v", err)
	}
}

func TestMasterKeyFile_CreatedPrivateAndRefusedWhenShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "master.key")
	k1, err := CreateMasterKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := CreateMasterKeyFile(path); err == nil {
		t.Fatal("an existing master key was overwritten")
	}
	k2, err := LoadMasterKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := k1.Seal([]byte("x"), "a")
	if _, err := k2.Open(sealed, "a"); err != nil {
		t.Fatal("reloaded key differs")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMasterKeyFile(path); err == nil {
		t.Fatal("a world-readable master key file was accepted")
	}
}

// TestMasterKeyFile_RootOwnedMayBeGroupReadable covers a Kubernetes Secret
// volume with an fsGroup: root-owned, mode 0440, read through the group.
func TestMasterKeyFile_RootOwnedMayBeGroupReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, err := CreateMasterKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o440); err != nil {
		t.Fatal(err)
	}
	_, err := LoadMasterKeyFile(path)
	if os.Geteuid() == 0 {
		if err != nil {
			t.Fatalf("a root-owned 0440 master key file was refused: %v", err)
		}
	} else if err == nil {
		t.Fatal("a group-readable master key file not owned by root was accepted")
	}
	for _, mode := range []os.FileMode{0o460, 0o444, 0o404, 0o640 | 0o001} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadMasterKeyFile(path); err == nil {
			t.Errorf("a master key file with mode %v was accepted", mode)
		}
	}
}

func TestToken_HasTheAskedEntropyAndDiffers(t *testing.T) {
	a, b := MustToken(), MustToken()
	if a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !MatchesHash(a, Hash(a)) || MatchesHash(b, Hash(a)) {
		t.Fatal("hash matching is wrong")
	}
}
