package dbtest

// startWatchdog has nothing to do on Windows: the server is bound to the test process's lifetime
// by a job object (see package database), and the directory is left to the temporary folder.
func startWatchdog(binDir, cluster, dir string) {}
