package ucan

import (
	"container/list"
	"sync"

	"github.com/ipfs/go-cid"
)

// DefaultCacheSize is the number of verified delegation CIDs a Validator remembers when
// ValidatorOptions.CacheSize is zero.
const DefaultCacheSize = 4096

// verifiedCache is a bounded LRU set of token CIDs whose signatures verified. A CID hashes
// the whole envelope including the signature, so a verified CID stays verified forever;
// only time bounds, alignment and policies must be rechecked on each use.
type verifiedCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recently used; values are cid.Cid
	items map[cid.Cid]*list.Element
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{size: size, order: list.New(), items: make(map[cid.Cid]*list.Element, size)}
}

func (c *verifiedCache) contains(k cid.Cid) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return true
	}
	return false
}

func (c *verifiedCache) add(k cid.Cid) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(k)
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(cid.Cid))
	}
}

func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
