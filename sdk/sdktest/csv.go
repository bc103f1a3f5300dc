package sdktest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"time"
)

// BenchCSVColumns are the columns WriteBenchCSV writes.
const BenchCSVColumns = "id,qty,price,score,name,email,country,active,flagged,created"

// WriteBenchCSV writes a CSV file of rows contact-like records, about 100
// bytes a row (10M rows is close to 1 GB), for benchmarks that need data of
// a known shape and size. Generated on demand, never committed.
func WriteBenchCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(BenchCSVColumns + "\n")
	var buf []byte
	for i := 0; i < rows; i++ {
		buf = AppendBenchCSVRow(buf[:0], i)
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// benchCSVStart is the created time of WriteBenchCSV's row 0.
var benchCSVStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// AppendBenchCSVRow appends row i of WriteBenchCSV's data, with its line
// end, to buf: for benchmarks that keep the CSV in memory.
func AppendBenchCSVRow(buf []byte, i int) []byte {
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, ',')
	buf = strconv.AppendInt(buf, int64(i%1000), 10)
	buf = append(buf, ',')
	buf = strconv.AppendFloat(buf, float64(i%10000)/7, 'f', 2, 64)
	buf = append(buf, ',')
	buf = strconv.AppendFloat(buf, float64(i%97)*1.5, 'f', 1, 64)
	buf = append(buf, ",customer-"...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, ",User"...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, "@Example.com,"...)
	buf = append(buf, countries[i%len(countries)]...)
	buf = append(buf, ',')
	buf = strconv.AppendBool(buf, i%2 == 0)
	buf = append(buf, ',')
	buf = strconv.AppendBool(buf, i%3 == 0)
	buf = append(buf, ',')
	buf = benchCSVStart.Add(time.Duration(i)*time.Second).AppendFormat(buf, time.RFC3339)
	return append(buf, '\n')
}
