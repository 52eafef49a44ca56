package ssekify

// lruLinks are the list pointers a value holds to be kept in an lruList.
type lruLinks[T any] struct{ prev, next *T }

// lruList is an intrusive doubly linked list, most recently used first:
// its values hold their own links, so pushing, moving and removing one is
// O(1) and allocates nothing. The replay store and the seq counters keep
// their least recently used entries at its tail.
type lruList[T any, P interface {
	*T
	links() *lruLinks[T]
}] struct {
	head, tail *T
	n          int
}

// pushFront adds v, which is in no list, at the head.
func (l *lruList[T, P]) pushFront(v *T) {
	lk := P(v).links()
	lk.prev, lk.next = nil, l.head
	if l.head != nil {
		P(l.head).links().prev = v
	} else {
		l.tail = v
	}
	l.head = v
	l.n++
}

// remove takes v, which is in l, out of it.
func (l *lruList[T, P]) remove(v *T) {
	lk := P(v).links()
	if lk.prev != nil {
		P(lk.prev).links().next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		P(lk.next).links().prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next = nil, nil
	l.n--
}

// moveToFront makes v, which is in l, the most recently used.
func (l *lruList[T, P]) moveToFront(v *T) {
	if l.head != v {
		l.remove(v)
		l.pushFront(v)
	}
}
