// Package format writes access tokens in the shapes other programs read:
// JSON, a kubectl ExecCredential, a bare token, an Authorization header.
package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Format is an output format of the token command.
type Format string

// The formats of `token -o`.
const (
	JSON           Format = "json"
	ExecCredential Format = "exec-credential"
	Token          Format = "token"
	Header         Format = "header"
)

// Choices is every format, in the order help lists them, separated by "|"
// as a usage line writes them: the one list of formats. Parse, Names, the
// token command's usage line and -o help are built from it, and tests check
// that Write has a case and README a line for each. A constant, so that
// the help of the hot path's command costs nothing to build; adding a
// format is its constant, its place here and its case in Write.
const Choices = string(JSON) + "|" + string(ExecCredential) + "|" + string(Token) + "|" + string(Header)

// Names returns every format's name, in the order help lists them.
func Names() []string { return strings.Split(Choices, "|") }

// EnvExecInfo is set by client-go when it runs an exec credential plugin.
const EnvExecInfo = "KUBERNETES_EXEC_INFO"

// The ExecCredential API versions client-go speaks.
const (
	APIVersionV1      = "client.authentication.k8s.io/v1"
	APIVersionV1Beta1 = "client.authentication.k8s.io/v1beta1"
)

// maxExecInfo bounds KUBERNETES_EXEC_INFO: it carries cluster info, which
// may include a CA bundle, but never megabytes.
const maxExecInfo = 1 << 20

// Parse checks a -o value.
func Parse(s string) (Format, error) {
	for name := range strings.SplitSeq(Choices, "|") {
		if s == name {
			return Format(name), nil
		}
	}
	return "", fmt.Errorf("unknown output format %.40q: use one of %s", s, strings.Join(Names(), ", "))
}

// ExecInfo is what this program reads of KUBERNETES_EXEC_INFO.
type ExecInfo struct {
	APIVersion  string
	Interactive bool
}

// ParseExecInfo parses KUBERNETES_EXEC_INFO, accepting the v1 and v1beta1
// ExecCredential API versions.
func ParseExecInfo(s string) (ExecInfo, error) {
	if len(s) > maxExecInfo {
		return ExecInfo{}, errors.New(EnvExecInfo + " is larger than 1 MiB")
	}
	var v struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			Interactive bool `json:"interactive"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return ExecInfo{}, fmt.Errorf("%s is not valid JSON: %v", EnvExecInfo, err)
	}
	if v.Kind != "" && v.Kind != "ExecCredential" {
		return ExecInfo{}, fmt.Errorf("%s has kind %.40q, want ExecCredential", EnvExecInfo, v.Kind)
	}
	switch v.APIVersion {
	case APIVersionV1, APIVersionV1Beta1:
	default:
		return ExecInfo{}, fmt.Errorf("%s has apiVersion %.60q: supported are %s and %s", EnvExecInfo, v.APIVersion, APIVersionV1, APIVersionV1Beta1)
	}
	return ExecInfo{APIVersion: v.APIVersion, Interactive: v.Spec.Interactive}, nil
}

type jsonToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
	ExpiresIn   int64  `json:"expires_in"`
}

type execCredential struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Interactive bool `json:"interactive"`
	} `json:"spec"`
	Status struct {
		ExpirationTimestamp string `json:"expirationTimestamp"`
		Token               string `json:"token"`
	} `json:"status"`
}

// Write writes tok to w in format f with a single Write call, so a failure
// never leaves partial output. apiVersion is the ExecCredential version
// (empty means v1); now computes expires_in.
func Write(w io.Writer, f Format, tok *oauth2.Token, apiVersion string, now time.Time) error {
	var buf bytes.Buffer
	switch f {
	case JSON:
		left := int64(tok.Expiry.Sub(now) / time.Second)
		marshal(&buf, jsonToken{
			AccessToken: tok.AccessToken,
			TokenType:   "Bearer",
			ExpiresAt:   tok.Expiry.UTC().Format(time.RFC3339),
			ExpiresIn:   max(left, 0),
		})
	case ExecCredential:
		ec := execCredential{Kind: "ExecCredential", APIVersion: apiVersion}
		if ec.APIVersion == "" {
			ec.APIVersion = APIVersionV1
		}
		ec.Status.ExpirationTimestamp = tok.Expiry.UTC().Format(time.RFC3339)
		ec.Status.Token = tok.AccessToken
		marshal(&buf, ec)
	case Token:
		buf.WriteString(tok.AccessToken + "\n")
	case Header:
		buf.WriteString("Authorization: Bearer " + tok.AccessToken + "\n")
	default:
		return fmt.Errorf("unknown output format %q", f)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// marshal appends v's JSON to buf, without HTML escaping (a token may hold
// '<' or '&'), followed by the newline every format ends with.
func marshal(buf *bytes.Buffer, v any) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // plain structs of strings and numbers cannot fail
}
