package redshiftconn

import (
	"testing"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/sdktest"
)

func TestConformanceSink(t *testing.T) {
	db := newDB(t)
	seq := 0
	for _, mode := range []sdk.WriteMode{sdk.WriteInsert, sdk.WriteUpsert} {
		t.Run(string(mode), func(t *testing.T) {
			sink := &sdktest.SinkCase{
				Mode: mode,
				Options: func(t *testing.T) sdk.Values {
					seq++
					return sdk.Values{"table": "public.conf_" + string(mode) + "_" + itoa(seq)}
				},
				Count: func(t *testing.T, o sdk.Values) int64 { return db.count(t, o.String("table", "")) },
			}
			if mode == sdk.WriteUpsert {
				sink.Keys = []string{"id"}
			}
			sdktest.Run(t, sdktest.Suite{
				New:    func() sdk.Connector { return New() },
				Config: pgConfig(db.dsn),
				Sink:   sink,
			})
		})
	}
}
