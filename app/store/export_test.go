package store

import "github.com/jackc/pgx/v5"

// TxForTest is the transaction of a Store handed out by InTx (nil outside one).
func TxForTest(s *Store) pgx.Tx { return s.tx }

// PhoneDigits is the patient search's phone-term rule (phoneDigits).
func PhoneDigits(term string) string { return phoneDigits(term) }
