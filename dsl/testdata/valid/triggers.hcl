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

connection "salesforce" "crm" {
  login_url = "https://login.salesforce.com"
  client_id = "id"
}

flow "evented" {
  # The trigger's arguments are read against the source's connector,
  # wherever the source block is.
  trigger "event" {
    event        = "ContactChangeEvent"
    batch_size   = 200
    batch_window = "250ms"
  }
  source "salesforce" {
    connection = connection.salesforce.crm
    object     = "Contact"
  }
  sink "file" "a" { path = "a/" }
  sink "postgres" "b" {
    connection = connection.postgres.dw
    table      = "contacts"
    write      = "upsert"
    key        = ["Id"]
    deletes    = true
  }
  on_error { mode = "continue" }
}

connection "postgres" "dw" {
  dsn = "postgres://localhost/dw"
}
