package privilege

import "os/user"

// DropIfRoot does nothing on Windows: there is no root to leave (PostgreSQL itself refuses an
// elevated administrator, and says so in its log). It reports the current user.
func DropIfRoot(runAs string, dirs ...string) (userName string, dropped bool, err error) {
	return currentUser(), false, nil
}

// currentUser is the name of the user the process runs as.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "the current user"
}
