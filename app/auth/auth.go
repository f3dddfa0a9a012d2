// Package auth holds password hashing and policy, tokens, refresh-token families and rate limits.
package auth

// Service is the authentication service the API uses. (Placeholder: the accounts issue fills it.)
type Service struct{}
