package password

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestHashThenVerify_AcceptsOnlyTheRightPassword(t *testing.T) {
	p := Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	h, err := Hash("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify("correct horse", h); !ok || err != nil {
		t.Fatalf("right password rejected: %v %v", ok, err)
	}
	if ok, _ := Verify("correct horsE", h); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := Hash("correct horse", p)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
}

func TestVerify_RejectsMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$***$a2V5", "$argon2id$v=18$m=1024,t=1,p=1$c2FsdA$a2V5"} {
		if ok, err := Verify("x", h); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want false, error", h, ok, err)
		}
	}
}

func TestValidate_LengthAndEncoding(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "long enough": true, "\xff\xfe invalid utf8": false, string(make([]byte, MaxLen+1)): false} {
		if err := Validate(pw); (err == nil) != ok {
			t.Errorf("Validate(%q...) = %v, want ok=%v", pw[:min(len(pw), 12)], err, ok)
		}
	}
}

// BenchmarkHashAndVerify measures one argon2id hash and one verification
// with the production parameters (password.Default).
func BenchmarkHashAndVerify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h, err := Hash("correct horse battery staple", Default)
		if err != nil {
			b.Fatal(err)
		}
		if ok, _ := Verify("correct horse battery staple", h); !ok {
			b.Fatal("verify failed")
		}
	}
}

// TestVerify_WaitsForAFreeCore proves argon2id work is bounded: with every
// slot taken, a verification waits (here until its context ends) instead of
// allocating another 19 MiB next to the others.
func TestVerify_WaitsForAFreeCore(t *testing.T) {
	p := Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	h, err := Hash("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if cap(work) != max(1, runtime.GOMAXPROCS(0)) {
		t.Fatalf("%d slots for %d cores", cap(work), runtime.GOMAXPROCS(0))
	}
	for range cap(work) {
		work <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := VerifyContext(ctx, "correct horse", h)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("verification ran with every core busy (err %v)", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting verification: err %v, want context.Canceled", err)
	}
	for range cap(work) {
		<-work
	}
	if ok, err := VerifyContext(context.Background(), "correct horse", h); !ok || err != nil {
		t.Fatalf("after the slots freed: %v %v", ok, err)
	}
}
