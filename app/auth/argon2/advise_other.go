//go:build unix && !linux

package argon2

func adviseHashMemory([]byte) {}
