package format

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

func TestWrite(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tok := &oauth2.Token{AccessToken: "tok<&>", TokenType: "Bearer", Expiry: now.Add(3599*time.Second + 500*time.Millisecond)}
	tests := []struct {
		f          Format
		apiVersion string
		want       string
	}{
		{JSON, "", `{"access_token":"tok<&>","token_type":"Bearer","expires_at":"2026-11-25T12:59:59Z","expires_in":3599}` + "\n"},
		{ExecCredential, "", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false},"status":{"expirationTimestamp":"2026-11-25T12:59:59Z","token":"tok<&>"}}` + "\n"},
		{ExecCredential, APIVersionV1Beta1, `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false},"status":{"expirationTimestamp":"2026-11-25T12:59:59Z","token":"tok<&>"}}` + "\n"},
		{Token, "", "tok<&>\n"},
		{Header, "", "Authorization: Bearer tok<&>\n"},
	}
	tested := map[string]bool{}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := Write(&buf, tt.f, tok, tt.apiVersion, now); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.f, diff)
		}
		tested[string(tt.f)] = true
	}
	for _, name := range Names() {
		if !tested[name] {
			t.Errorf("format %s has no case here", name)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, "yaml", tok, "", now); err == nil || buf.Len() != 0 {
		t.Errorf("unknown format: err %v, output %q", err, buf.String())
	}
	// An expired token never shows a negative lifetime.
	buf.Reset()
	_ = Write(&buf, JSON, &oauth2.Token{AccessToken: "t", Expiry: now.Add(-time.Minute)}, "", now)
	if !strings.Contains(buf.String(), `"expires_in":0`) {
		t.Errorf("expired token: %s", buf.String())
	}
}

// TestParse: every listed format parses as itself, and an unknown one's
// error names them all, in the order help lists them.
func TestParse(t *testing.T) {
	want := []string{"json", "exec-credential", "token", "header"}
	if diff := cmp.Diff(want, Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	for _, name := range Names() {
		if f, err := Parse(name); err != nil || string(f) != name {
			t.Errorf("Parse(%q) = %q, %v", name, f, err)
		}
	}
	for _, bad := range []string{"", "yaml", "JSON", "token "} {
		_, err := Parse(bad)
		if err == nil || !strings.HasSuffix(err.Error(), ": use one of json, exec-credential, token, header") {
			t.Errorf("Parse(%q) error = %v, want one listing every format", bad, err)
		}
	}
}

func TestParseExecInfo(t *testing.T) {
	tests := []struct {
		in      string
		want    ExecInfo
		wantErr string
	}{
		{`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true,"cluster":{"server":"https://x"}}}`, ExecInfo{APIVersion: APIVersionV1, Interactive: true}, ""},
		{`{"apiVersion":"client.authentication.k8s.io/v1beta1"}`, ExecInfo{APIVersion: APIVersionV1Beta1}, ""},
		{`{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`, ExecInfo{}, "apiVersion"},
		{`{}`, ExecInfo{}, "apiVersion"},
		{`{"kind":"Pod","apiVersion":"client.authentication.k8s.io/v1"}`, ExecInfo{}, "kind"},
		{`not json`, ExecInfo{}, "not valid JSON"},
		{strings.Repeat(" ", 1<<20+1), ExecInfo{}, "larger than 1 MiB"},
	}
	for _, tt := range tests {
		got, err := ParseExecInfo(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseExecInfo(%.40q) = %v, want error with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseExecInfo(%.40q): %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

func FuzzParseExecInfo(f *testing.F) {
	f.Add(`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`)
	f.Add(`{"apiVersion":"client.authentication.k8s.io/v1beta1"}`)
	f.Fuzz(func(t *testing.T, s string) {
		info, err := ParseExecInfo(s)
		if err == nil && info.APIVersion != APIVersionV1 && info.APIVersion != APIVersionV1Beta1 {
			t.Fatalf("accepted apiVersion %q", info.APIVersion)
		}
	})
}
