# Option fixtures: bad values of a source's connector attributes. The
# connector finds them when it describes the source; the diagnostic sits
# on the attribute's value, not on the block or the path.

flow "columns_twice" {
  source "file" {
    path    = "accounts.csv"
    columns = ["Id", "Id"] # error at ["Id",: names "Id" twice
  }
  sink "file" { path = "out" }
}

flow "schema_outside_columns" {
  source "file" {
    path    = "accounts.csv"
    columns = ["Id", "Name"]
    schema  = { Revenue = "float" } # error at {: which the columns attribute does not have
  }
  sink "file" { path = "out" }
}

flow "unknown_format" {
  source "file" {
    path   = "accounts.csv"
    format = "xlsx" # error at "xlsx": unknown format "xlsx"
  }
  sink "file" { path = "out" }
}

flow "sink_codec" {
  source "file" { path = "accounts.csv" }
  sink "file" {
    path                = "out"
    format              = "parquet"
    parquet_compression = "brotli" # error at "brotli": unknown codec
  }
}
