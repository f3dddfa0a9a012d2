package store

import (
	"context"
	"maps"
	"slices"
)

// Settings returns the settings administrators chose, key → value (clinic policies; see app/policy
// for their meaning and the defaults of the missing ones).
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.QueryRow(ctx, `SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM settings`).Scan(&out)
	return out, err
}

// SaveSettings stores values (key → value) as actor's choice, in one transaction.
func (s *Store) SaveSettings(ctx context.Context, actor Actor, values map[string]string) error {
	return s.InTx(ctx, func(tx *Store) error {
		for _, k := range slices.Sorted(maps.Keys(values)) {
			if _, err := tx.db.Exec(ctx, `INSERT INTO settings (key, value, updated_by) VALUES ($1, $2, $3)
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by`,
				k, values[k], nullID(actor.UserID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// nullID is NULL for 0 (no account: a command-line tool).
func nullID(id int64) *int64 {
	if id <= 0 {
		return nil
	}
	return &id
}
