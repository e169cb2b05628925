//go:build !race

package ntlm

// raceEnabled: the race detector is on (see race_on_test.go).
const raceEnabled = false
