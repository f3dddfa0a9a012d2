package database

import "time"

// SetRestartPolicy shortens the supervisor's delays for tests; it returns a function restoring them.
func SetRestartPolicy(delays []time.Duration, restarts int) func() {
	oldD, oldR := restartDelays, maxRestarts
	restartDelays, maxRestarts = delays, restarts
	return func() { restartDelays, maxRestarts = oldD, oldR }
}
