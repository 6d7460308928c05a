package main

import (
	"context"
	"time"

	"github.com/dt-credential-helper/dt-credential-helper/internal/format"
)

func runToken(ctx context.Context, e env, args []string) error {
	var tf tokenFlags
	var output string
	fs := newFlagSet(e, "token", "token [-o json|exec-credential|token|header] [FLAGS]")
	fs.about = `Prints a valid access token, from the cache while it has more than
--refresh-buffer left. This is also what the program does
when run with no command, or with flags only.`
	tf.register(fs)
	fs.StringVar(&output, "o", "", "output format: json, exec-credential, token or header (default exec-credential under kubectl, else json)")
	fs.StringVar(&output, "output", "", "same as -o")
	if err := parse(fs, args, false); err != nil {
		return err
	}
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
	f, err := format.Parse(firstNonEmpty(output, string(format.JSON)))
	if err != nil {
		return usagef("%v", err)
	}
	p, err := tf.provider(e, nil)
	if err != nil {
		return err
	}
	// --timeout bounds a refresh inside the provider; a cached token is
	// served without arming a timer.
	tok, err := p.Token(ctx, "", tf.forceRefresh)
	if err != nil {
		return err
	}
	return format.Write(e.stdout, f, tok, apiVersion, time.Now())
}
