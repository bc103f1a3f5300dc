package sdktest

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TenColumnSchema is the kit's default record shape: the mix of types a
// typical SaaS object has, every field nullable.
var TenColumnSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "active", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "flagged", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "created", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
}, nil)

var countries = []string{"DE", "FR", "US", "GB", "JP", "BR"}

// TenColumnBatch builds rows of TenColumnSchema starting at id first. Every
// 17th row has nulls in its optional fields, so nulls cross every path.
func TenColumnBatch(first, rows int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, TenColumnSchema)
	defer b.Release()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := first; i < first+rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%17 == 0 {
			for f := 1; f < 10; f++ {
				b.Field(f).AppendNull()
			}
			continue
		}
		b.Field(1).(*array.Int64Builder).Append(int64(i % 1000))
		b.Field(2).(*array.Float64Builder).Append(float64(i%10000) / 7)
		b.Field(3).(*array.Float64Builder).Append(float64(i%97) * 1.5)
		b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("customer-%08d", i))
		b.Field(5).(*array.StringBuilder).Append(countries[i%len(countries)])
		b.Field(6).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(7).(*array.BooleanBuilder).Append(i%3 == 0)
		ts := base.Add(time.Duration(i) * time.Second)
		b.Field(8).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
		b.Field(9).(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
	}
	return b.NewRecordBatch()
}
