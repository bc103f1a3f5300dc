package redshiftconn

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// emptyArray is a zero-length array of dt, to check up front that every
// field has an encoder.
func emptyArray(dt arrow.DataType) arrow.Array {
	return array.MakeArrayOfNull(memory.DefaultAllocator, dt, 0)
}
