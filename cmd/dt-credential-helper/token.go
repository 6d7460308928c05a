package main

import (
	"cmp"
	"context"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/format"
	"github.com/dt-credential-helper/dt-credential-helper/internal/profile"
	"github.com/dt-credential-helper/dt-credential-helper/internal/tokens"
)

// tokenLine is token's command line.
type tokenLine struct {
	tokenFlags
	output string
}

func (l *tokenLine) flags(e env) *flagSet {
	fs := newFlagSet(e, "token", "token [-o "+format.Choices+"] [FLAGS]")
	fs.about = `Prints a valid access token, from the cache while it has more than
--refresh-buffer left. This is also what the program does
when run with no command, or with flags only.`
	l.register(fs)
	fs.StringVar(&l.output, "o", "", "output format: "+format.Choices+
		" (default "+string(format.ExecCredential)+" under kubectl, else "+string(format.JSON)+")")
	fs.StringVar(&l.output, "output", "", "same as -o")
	fs.choices = choices{"o output", format.Choices}
	return fs
}

// runToken prints a token of the account the flags, the environment or
// --profile name: the token sources (internal/tokens) serve it from the
// cache, or on a miss fetch it and cache it.
func runToken(ctx context.Context, e env, args []string) error {
	var tf tokenLine
	if err := parse(tf.flags(e), args, false); err != nil {
		return err
	}
	output := tf.output
	// KUBERNETES_EXEC_INFO picks the default format and the ExecCredential
	// version; an explicit -o still wins.
	var apiVersion string
	if info := e.getenv(format.EnvExecInfo); info != "" {
		ei, err := format.ParseExecInfo(info)
		if err != nil {
			return usagef("%v", err)
		}
		apiVersion = ei.APIVersion
		if output == "" {
			output = string(format.ExecCredential)
		}
	}
	f, err := format.Parse(cmp.Or(output, string(format.JSON)))
	if err != nil {
		return usagef("%v", err)
	}
	cfg, err := tf.config(e, nil)
	if err != nil {
		return err
	}
	// The profiles are read only if a profile is named; its secret only on
	// a miss (see package tokens).
	sources := tokens.New(cfg, profile.NewRepository(e.getenv, cfg.KeyringTimeout, cfg.Log))
	// --timeout bounds a refresh inside the cache; a cached token is
	// served without arming a timer.
	tok, err := sources.Token(ctx, "", tf.forceRefresh)
	if err != nil {
		return tf.explain(err)
	}
	return format.Write(e.stdout, f, tok, apiVersion, time.Now())
}
