package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/policy"
	"healthcare/app/store"
)

// firstRun makes sure the server can be administered, at every start of serve: with no active
// administrator it creates the one admin.username names (Docker's first start), or else prints a
// one-time setup token for the first-run screen (POST /api/setup/). It also logs the clinic
// policies in force and where each comes from.
func firstRun(ctx context.Context, cfg *config.Config, st *store.Store, addr net.Addr, log *slog.Logger) error {
	if err := logPolicies(ctx, cfg, st, log); err != nil {
		return err
	}
	exists, err := st.ActiveAdminExists(ctx)
	if err != nil {
		return fmt.Errorf("cannot look for an administrator: %v", err)
	}
	if exists {
		return nil
	}
	if name := cfg.Admin.Username; name != "" {
		email := cfg.Admin.Email
		if email == "" {
			email = name + "@localhost"
		}
		n, err := auth.NewAccount(cfg, name, email, cfg.Admin.Password)
		if err != nil {
			return configError(fmt.Errorf("cannot create the administrator admin.username names: %v", err))
		}
		u, err := st.CreateFirstAdmin(ctx, n, nil)
		switch {
		case errors.Is(err, store.ErrAdminExists): // another replica was quicker
			return nil
		case store.UniqueViolation(err) == store.UsersUsernameKey:
			return configError(fmt.Errorf("admin.username %q is taken by an account that is not an administrator: choose another name, or run 'healthcare admin create' with another one", n.Username))
		case store.UniqueViolation(err) == store.UsersEmailKey:
			return configError(fmt.Errorf("admin.email %s is taken by another account: set another one", n.Email))
		case err != nil:
			return fmt.Errorf("cannot create the administrator: %v", err)
		}
		log.Info("first start: administrator created (admin.username)", "username", u.Username, "user_id", u.ID)
		return nil
	}
	tok, err := auth.NewSetupToken(ctx, st)
	if err != nil {
		return fmt.Errorf("cannot make a setup token: %v", err)
	}
	log.Warn("no administrator yet: open "+openURL(scheme(cfg), addr)+" and create one with this one-time setup token, or run 'healthcare admin create --username NAME --email ADDRESS'",
		"setup_token", tok)
	return nil
}

// logPolicies logs each clinic policy in force and where it comes from.
func logPolicies(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	stored, err := st.Settings(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the clinic settings: %v", err)
	}
	vs := policy.Resolve(cfg, stored)
	args := make([]any, 0, 2*len(vs))
	for _, v := range vs {
		args = append(args, v.Name, fmt.Sprintf("%s (%s)", v.Value, v.Source))
	}
	log.Info("clinic policies", args...)
	if err := policy.From(vs).Check(); err != nil {
		log.Warn("the clinic policies contradict each other, so patients are visible to their owners only: " + err.Error())
	}
	return nil
}
