package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"healthcare/app/config"
	"healthcare/app/store"
)

// NewAccount checks a new account's username, email and password by the registration's rules
// (Django's username rule, a valid email, the password policy) and returns it with the password
// hashed at the configured cost, for tools that create accounts without the API (the admin
// command, the first-start administrator). Its error is one sentence naming every problem.
// Uniqueness is the database's: see store.UniqueViolation.
func NewAccount(cfg *config.Config, username, email, password string) (store.NewUser, error) {
	username = NormalizeUsername(username)
	email = NormalizeEmail(strings.TrimSpace(email))
	var problems []string
	switch {
	case username == "":
		problems = append(problems, "the username is empty")
	case utf8.RuneCountInString(username) > MaxUsernameLength || !ValidUsername(username):
		problems = append(problems, fmt.Sprintf("the username %q is not valid (at most %d letters, digits and @/./+/-/_)", username, MaxUsernameLength))
	}
	if utf8.RuneCountInString(email) > MaxEmailLength || !ValidEmail(email) {
		problems = append(problems, fmt.Sprintf("the email address %q is not valid", email))
	}
	for _, m := range ValidatePassword(password, username, email) {
		problems = append(problems, "password: "+strings.TrimSuffix(m, "."))
	}
	if len(problems) > 0 {
		return store.NewUser{}, errors.New(strings.Join(problems, "; "))
	}
	hash, err := HashWith(cfg, password)
	if err != nil {
		return store.NewUser{}, err
	}
	return store.NewUser{Username: username, Email: email, PasswordHash: hash}, nil
}

// HashWith hashes password with argon2id at cfg's cost, as Service.HashPassword does, for tools
// that need no token service.
func HashWith(cfg *config.Config, password string) (string, error) {
	p := Params{MemoryKiB: cfg.Auth.Argon2MemoryKiB, Iterations: cfg.Auth.Argon2Iterations, Parallelism: cfg.Auth.Argon2Parallelism}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return formatHash(p, salt, argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)), nil
}
