package boundedbuf

import (
	"os"
	"testing"

	"github.com/dt-credential-helper/dt-credential-helper/internal/testutil"
)

// TestMain runs the tests with a private HOME and XDG directories and none
// of the user's settings (testutil.RunIsolated).
func TestMain(m *testing.M) { os.Exit(testutil.RunIsolated(m)) }
