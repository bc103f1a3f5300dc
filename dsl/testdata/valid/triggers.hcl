flow "scheduled" {
  trigger "schedule" {
    cron = "*/15 * * * *"
    incremental { cursor = "SystemModstamp" }
  }
  source "file" {
    path        = "in.csv"
    delimiter   = ";"
    header      = true
    null_values = ["", "NA"]
    schema      = { id = "int64", name = "string" }
  }
  validate {
    check = <<EOT
Amount > 0 && Name != ""
EOT
  }
  sink "file" {
    path   = "out/"
    format = null
  }
}

flow "evented" {
  trigger "event" { event = "ContactChangeEvent" }
  source "file" { path = "in.csv" }
  sink "file" "a" { path = "a/" }
  sink "file" "b" { path = "b/" }
  on_error { mode = "continue" }
}
