package channel

import "sync"

// mutex is sync.Mutex, named so the lock order is easy to grep:
// Hub.mu, then room.mu, then session.mu.
type mutex = sync.Mutex
