package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/password"
)

// limit is one operation's rate on this machine: the ceiling of every flow
// that does it once. Measured with GOMAXPROCS goroutines on every core,
// with nothing else running in this process.
type limit struct {
	Name      string  `json:"name"`
	PerSecond float64 `json:"per_second"`
}

// Names of the limits a flow can be bound by.
const (
	limitRS256    = "RS256"
	limitES256    = "ES256"
	limitEdDSA    = "EdDSA"
	limitArgon2id = "argon2id"
)

// limiter measures the limits: JWS signatures per second for each
// algorithm the server signs ID tokens with (go-jose over a typical ID
// token's claims, as the server signs them) and argon2id hashes per
// second with the production parameters.
type limiter struct {
	ops map[string]func() error
}

// limitNames are the limits in the order they are reported.
var limitNames = []string{limitRS256, limitES256, limitEdDSA, limitArgon2id}

func newLimiter() (*limiter, error) {
	claims := []byte(`{"iss":"http://127.0.0.1:8080/o/load","sub":"0d0a5ad7-4a5e-4c67-8b5e-6c0f8a8f6b77","aud":"lk_0123456789abcdef","exp":1796000000,"iat":1795996400,"auth_time":1795996000,"nonce":"b3JkZXJseS1ub25jZS12YWx1ZQ","sid":"c2Vzc2lvbi1pZC12YWx1ZQ","at_hash":"YWNjZXNzLXRva2VuLWhhc2g","name":"Load sso-1","email":"sso-1@example.com","email_verified":true}`)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	l := &limiter{ops: map[string]func() error{
		limitArgon2id: func() error {
			_, err := password.Hash(userPass, password.Default)
			return err
		},
	}}
	for _, k := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
	}{{limitRS256, jose.RS256, rsaKey}, {limitES256, jose.ES256, ecKey}, {limitEdDSA, jose.EdDSA, edKey}} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			return nil, err
		}
		l.ops[k.name] = func() error {
			jws, err := signer.Sign(claims)
			if err != nil {
				return err
			}
			_, err = jws.CompactSerialize()
			return err
		}
	}
	return l, nil
}

// measure measures the named limit for about d.
func (l *limiter) measure(name string, d time.Duration) (limit, error) {
	op, ok := l.ops[name]
	if !ok {
		return limit{}, fmt.Errorf("no limit %q", name)
	}
	rate, err := parallelRate(d, op)
	if err != nil {
		return limit{}, fmt.Errorf("%s: %w", name, err)
	}
	return limit{Name: name, PerSecond: rate}, nil
}

// measureAll measures every limit, each for about d.
func (l *limiter) measureAll(d time.Duration) ([]limit, error) {
	var out []limit
	for _, name := range limitNames {
		m, err := l.measure(name, d)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// parallelRate runs op on GOMAXPROCS goroutines for about d and returns
// completed operations per second.
func parallelRate(d time.Duration, op func() error) (float64, error) {
	var n atomic.Int64
	var (
		firstErr  error
		recordErr sync.Once
	)
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := op(); err != nil {
					recordErr.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(n.Load()) / time.Since(t0).Seconds(), nil
}
