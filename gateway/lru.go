package gateway

import (
	"container/list"
	"sync"

	"github.com/ipfs/go-cid"
)

// lru keeps recently read blocks of at most CacheMaxBlock bytes, up to a total of max
// bytes.
type lru struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // front: most recent; values are *entry
	byCID map[cid.Cid]*list.Element
}

type entry struct {
	c    cid.Cid
	data []byte
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), byCID: map[cid.Cid]*list.Element{}}
}

func (l *lru) get(c cid.Cid) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byCID[c]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(el)
	return el.Value.(*entry).data, true
}

func (l *lru) add(c cid.Cid, data []byte) {
	if len(data) > CacheMaxBlock || len(data) > l.max/4 {
		return // leaves streamed once, and blocks that would push out a quarter of the cache, are not kept
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.byCID[c]; ok {
		return
	}
	l.byCID[c] = l.order.PushFront(&entry{c: c, data: data})
	l.size += len(data)
	for l.size > l.max {
		old := l.order.Back()
		e := old.Value.(*entry)
		l.order.Remove(old)
		delete(l.byCID, e.c)
		l.size -= len(e.data)
	}
}
