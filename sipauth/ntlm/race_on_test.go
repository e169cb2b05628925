//go:build race

package ntlm

// raceEnabled: the race detector is on. It makes sync.Pool drop items on
// purpose, so the allocation checks of the hot path do not hold with it.
const raceEnabled = true
