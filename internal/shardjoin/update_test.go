package shardjoin

// Every test binary of the module accepts -update (go test ./... -update).
import _ "github.com/dmplan/dmplan/internal/golden"
