package ucan

import (
	"testing"

	"github.com/ipfs/go-cid"
)

func TestVerifiedCacheIsBoundedLRU(t *testing.T) {
	c := newVerifiedCache(2)
	k := func(s string) cid.Cid { return cborCID([]byte(s)) }
	c.add(k("a"))
	c.add(k("b"))
	if !c.contains(k("a")) { // a is now most recent
		t.Fatal("a missing")
	}
	c.add(k("c")) // evicts b
	if c.contains(k("b")) || !c.contains(k("a")) || !c.contains(k("c")) || c.len() != 2 {
		t.Fatalf("LRU state wrong, len %d", c.len())
	}
	c.add(k("c"))
	if c.len() != 2 {
		t.Fatal("re-adding grew the cache")
	}
}

func TestValidatorCachesVerifiedProofs(t *testing.T) {
	if NewValidator(ValidatorOptions{}).cache.size != DefaultCacheSize {
		t.Fatal("zero CacheSize does not mean DefaultCacheSize")
	}
	if NewValidator(ValidatorOptions{CacheSize: -1}).cache != nil {
		t.Fatal("negative CacheSize does not disable the cache")
	}
	raw, err := readTestToken("good-delegation")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	v := NewValidator(ValidatorOptions{CacheSize: 8})
	if err := v.verifyProof(tok); err != nil {
		t.Fatal(err)
	}
	if !v.cache.contains(tok.CID) {
		t.Fatal("verified proof not cached")
	}
	bad, err := readTestToken("bad-signature")
	if err != nil {
		t.Fatal(err)
	}
	btok, err := Decode(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.verifyProof(btok); err == nil {
		t.Fatal("bad signature verified")
	}
	if v.cache.contains(btok.CID) {
		t.Fatal("failed proof cached")
	}
}
